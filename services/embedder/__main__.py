"""python -m services.embedder"""

from services.embedder import SERVICE

if __name__ == "__main__":
    SERVICE.main()
