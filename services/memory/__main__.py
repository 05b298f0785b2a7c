"""python -m services.memory"""

from services.memory import SERVICE

if __name__ == "__main__":
    SERVICE.main()
