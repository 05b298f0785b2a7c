"""python -m services.marketplace"""

from services.marketplace import SERVICE

if __name__ == "__main__":
    SERVICE.main()
