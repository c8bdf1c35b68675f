"""Checks that the llama.cpp build `make bench-llamacpp` made runs on this CPU.

llama.cpp is compiled for the building CPU (-march=native). On a CPU that reports AMX
(Intel Sapphire Rapids and later), ggml takes its AMX matrix kernels, and in a virtual
machine that does not give the guest AMX's tile state, the first `ldtilecfg` is a general
protection fault: the process dies with SIGSEGV at the first decode. This loads the packaged
GGUF and decodes a few tokens in a child process; its exit status tells the Makefile whether
to rebuild without the AMX kernels.

    PYTHONPATH=.bench/llamacpp .venv/bin/python benchmarks/llamacpp_check.py
"""

from __future__ import annotations

import subprocess
import sys

CHILD = """
import logging, llama_cpp
from expertly.generate import models
logging.getLogger("llama-cpp-python").setLevel(logging.ERROR)
llm = llama_cpp.Llama(str(models.packaged_gguf()), n_ctx=256, verbose=False)
text = llm("The capital of France is", max_tokens=4, temperature=0.0)["choices"][0]["text"]
print(repr(text))
"""


def main() -> int:
    done = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True)
    if done.returncode == 0:
        print(f"llama.cpp runs on this CPU: {done.stdout.strip()}")
        return 0
    why = f"signal {-done.returncode}" if done.returncode < 0 else f"exit {done.returncode}"
    print(f"llama.cpp failed on this CPU ({why}): {done.stderr.strip()[-400:]}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
