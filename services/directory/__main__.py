"""python -m services.directory"""

from services.directory import SERVICE

if __name__ == "__main__":
    SERVICE.main()
