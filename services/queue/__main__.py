"""python -m services.queue"""

from services.queue import SERVICE

if __name__ == "__main__":
    SERVICE.main()
