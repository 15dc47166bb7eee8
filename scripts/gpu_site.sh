# Sourced by the scripts/gpu_*.sh: on a GPU machine without them, install the wheels in $WHEELS (gymnasium,
# jsonargparse and friends, carried from here) and this package into /tmp/site, and put it on the paths.
if [[ -n "${WHEELS:-}" ]]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "$WHEELS"/*.whl || exit 1
  python3 -m pip install -q --no-index --no-deps --no-build-isolation --no-compile --target /tmp/site . || exit 1
  export PYTHONPATH=/tmp/site PATH=/tmp/site/bin:$PATH
fi
