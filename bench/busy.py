# A pure-Python CPU loop of 8 s (two nested calls), for bench/bytes.sh:
# WORKLOAD="/usr/bin/python3 bench/busy.py" RUNS=3 bench/bytes.sh
import time
def leaf(n):
    s = 0
    for i in range(n):
        s += i * i
    return s
def mid(n):
    return leaf(n) + leaf(n // 2)
end = time.time() + 8
while time.time() < end:
    mid(2000)
