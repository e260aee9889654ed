# vram-advisor from this checkout: docker build -t vram-advisor:0.1.0 .
# Run it with the GPUs visible to NVML: docker run --rm --gpus all vram-advisor:0.1.0 check
FROM python:3.12-slim
COPY . /src
RUN pip install --no-cache-dir /src && rm -rf /src
ENTRYPOINT ["vram-advisor"]
CMD ["check"]
