"""python -m services.relay"""

from services.relay import SERVICE

if __name__ == "__main__":
    SERVICE.main()
