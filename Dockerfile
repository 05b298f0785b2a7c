# One image for every MoltGrid component; the command picks it:
#   docker run moltgrid gateway            docker run moltgrid services.queue
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 MOLTGRID_LOG_FORMAT=json
WORKDIR /app

COPY requirements.lock requirements-nodeps.lock pyproject.toml ./
RUN pip install --no-cache-dir -r requirements.lock && pip install --no-cache-dir --no-deps -r requirements-nodeps.lock
COPY gateway ./gateway
COPY services ./services
COPY shared ./shared
RUN pip install --no-cache-dir --no-deps . && useradd --uid 10001 --no-create-home moltgrid

USER 10001
EXPOSE 8000
ENTRYPOINT ["python", "-m"]
CMD ["gateway"]
