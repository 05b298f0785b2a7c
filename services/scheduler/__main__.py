"""python -m services.scheduler"""

from services.scheduler import SERVICE

if __name__ == "__main__":
    SERVICE.main()
