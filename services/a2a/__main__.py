"""python -m services.a2a"""

from services.a2a import SERVICE

if __name__ == "__main__":
    SERVICE.main()
