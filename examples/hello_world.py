# ---
# The first pcompile program: `pcompile run examples/hello_world.py`
# ---
# Modal's hello_world, unchanged: `import modal` resolves to pcompile when pcompile
# loads this file. `.local()` runs in this process, `.remote()` in a worker process,
# `.map()` fans out over a pool of workers on this machine.

import sys

import modal

app = modal.App("example-hello-world")


@app.function()
def f(i):
    if i % 2 == 0:
        print("hello", i)
    else:
        print("world", i, file=sys.stderr)

    return i * i


@app.local_entrypoint()
def main():
    # run the function locally
    print(f.local(1000))

    # run the function remotely (in a local worker process)
    print(f.remote(1000))

    # run the function in parallel
    total = 0
    for ret in f.map(range(200)):
        total += ret

    print(total)
