"""The ShareGPT stand-in of docs/validation.md.

The PagedAttention paper measured on ShareGPT, which is not shipped here.
This module draws requests shaped like it, built as the paper's benchmark
built its requests (vLLM's benchmarks/benchmark_serving.py as added in June
2023): independent log-normal prompt and output lengths, kept only if the
benchmark would keep the pair, with locations solved so the kept pairs have
the paper's published means (Fig. 11), and Poisson arrivals at Fig. 13a's
rate. The spread is the caller's; every draw is seeded.
"""
import functools
import json
import math
import random

# vLLM's benchmark samples 1000 requests by default (--num-prompts): one
# draw of the stand-in.
NUM_REQUESTS = 1000
RATE = 2.0  # req/s, Fig. 13a
MEANS = (161.31, 337.99)  # Fig. 11, ShareGPT input / output tokens
MAX_LEN = 2048
# vLLM's benchmark (benchmarks/benchmark_serving.py, June 2023, the paper's
# engine) drops ShareGPT pairs with a prompt or output under MIN_LEN tokens,
# a prompt over MAX_PROMPT or prompt + output over MAX_LEN.
MIN_LEN = 4
MAX_PROMPT = 1024
# Normal draws the log-normal locations are solved on (fixed, so the
# solution is the same on every run).
SOLVE_SAMPLES = 200_000
SOLVE_SEED = 1


def kept(prompt, output):
    """Whether vLLM's benchmark keeps a (prompt, output) pair."""
    return (min(prompt, output) >= MIN_LEN and prompt <= MAX_PROMPT and
            prompt + output <= MAX_LEN)


def tokens(mu, sigma, z):
    return max(1, round(math.exp(mu + sigma * z)))


@functools.lru_cache(maxsize=None)
def normal_draws():
    rng = random.Random(SOLVE_SEED)
    return [(rng.gauss(0, 1), rng.gauss(0, 1)) for _ in range(SOLVE_SAMPLES)]


def kept_pairs(mu, sigma):
    pairs = ((tokens(mu[0], sigma, a), tokens(mu[1], sigma, b))
             for a, b in normal_draws())
    return [p for p in pairs if kept(*p)]


@functools.lru_cache(maxsize=None)
def solve_locations(sigma):
    """Log-normal locations (mu) whose kept pairs have Fig. 11's means.

    Dropping long pairs lowers the means, so each location is raised by the
    log of the shortfall until the kept means meet the published ones, on
    one fixed set of normal draws. Returns the locations and the kept pairs.
    """
    mu = [math.log(m) - sigma * sigma / 2 for m in MEANS]
    for _ in range(50):
        pairs = kept_pairs(mu, sigma)
        got = [sum(p[i] for p in pairs) / len(pairs) for i in (0, 1)]
        if all(abs(g / m - 1) < 1e-5 for g, m in zip(got, MEANS)):
            break
        mu = [u + math.log(m / g) for u, m, g in zip(mu, MEANS, got)]
    return mu, pairs


def running_length(sigma):
    """Final length of a running request, weighted by how long it runs.

    A request runs about one step per output token, so the weight of a kept
    pair (p, o) is o: E[(p + o) o] / E[o].
    """
    pairs = solve_locations(sigma)[1]
    return (sum((p + o) * o for p, o in pairs) /
            sum(o for _, o in pairs))


def write_workload(path, sigma, seed, at_once=False):
    """Writes one draw of the stand-in; returns its mean lengths.

    at_once: every request arrives at 0 (a benchmark at an infinite rate).
    """
    mu, _ = solve_locations(sigma)
    rng = random.Random(seed)
    t = 0.0
    sums = [0, 0]
    with open(path, "w") as f:
        for _ in range(NUM_REQUESTS):
            t += rng.expovariate(RATE)
            while True:
                prompt, output = (tokens(u, sigma, rng.gauss(0, 1))
                                  for u in mu)
                if kept(prompt, output):
                    break
            sums[0] += prompt
            sums[1] += output
            f.write(json.dumps({"arrival_s": 0 if at_once else round(t, 6),
                                "prompt_length": prompt,
                                "output_length": output}) + "\n")
    return [x / NUM_REQUESTS for x in sums]
