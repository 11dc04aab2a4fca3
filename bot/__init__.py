"""healthbot: a careful WhatsApp health assistant."""

import os

# The vectors multiplied here are small (hundreds by 384), and OpenBLAS's extra threads spin on
# every product: a web process used about 40% more CPU per message with them (bench_http.py).
# One thread unless the deployment says otherwise; it must be set before numpy is imported.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
