"""python -m services.coordination"""

from services.coordination import SERVICE

if __name__ == "__main__":
    SERVICE.main()
