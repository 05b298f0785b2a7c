"""python -m services.sla"""

from services.sla import SERVICE

if __name__ == "__main__":
    SERVICE.main()
