"""Lineage analysis over a run file: line of descent, coalescence, and when the proxy took over.

Definitions used throughout (the run file records every individual ever evaluated):

- The *population of generation g* is the set of individuals born in generation g (ids
  ``bounds[g]`` to ``bounds[g+1]-1``). The *final population* is the population of the last
  committed generation plus that generation's champion (which may be older: elitism).
- The *line parent* of an individual is its only parent, or, with two parents, the one it
  shares more genes with (genes equal to the parent's; ties go to the smaller Euclidean
  distance, then to parent 1). Line parents make the genealogy a tree: the line of descent,
  the most recent common ancestor (MRCA) and the founder lineages all follow them.
- *Genetic diversity* of a generation is the mean pairwise Euclidean distance of its genomes,
  estimated on a seeded sample of at most ``diversity_sample`` genomes when it is larger.
- *Pseudo-alignment appeared* at the first ancestor on the line of descent whose test proxy
  rate exceeds its test door rate (averaged over the test worlds) while its training fitness
  is high: at least ``fitness_fraction`` of the way from the lowest to the highest base
  fitness along the line.
"""

import contextlib
import dataclasses
import math
import os

import numpy as np

from evosandbox.atomic import atomic_output
from evosandbox.errors import FileFormatError, UsageError
from evosandbox.runfile.run_read import RunReader
from evosandbox.seeding import derive_generator

# Genome rows read at once when scanning many generations (bounds memory, not the run size).
_GENOME_BYTES_PER_READ = 16 << 20
# Crossover children whose line parent is decided per batch of genome reads.
_CROSSOVER_BATCH = 4096
# A controller weight "changed" between parent and child when it moved more than this.
PHENOTYPE_TOLERANCE = 1e-3


@dataclasses.dataclass
class LineageReport:
    """Everything the lineage analysis found; ``to_dict()`` gives the JSON form."""

    run_path: str
    committed_generations: int
    individual_count: int
    start_id: int
    line_of_descent: np.ndarray  # int64 (D,), founder first
    generation: np.ndarray  # int32 (D,)
    parent_1: np.ndarray  # int64 (D,)
    parent_2: np.ndarray  # int64 (D,)
    line_parent: np.ndarray  # int64 (D,), -1 for the founder
    operator: tuple  # operator name per step
    fitness: np.ndarray  # float32 (D,), base objective
    door_rate: np.ndarray  # float (D, W), NaN where the ancestor was not scored
    proxy_rate: np.ndarray  # float (D, W)
    test_world_names: tuple
    test_source: str  # "run file" or "reevaluated on WORLD"
    genome_distance: np.ndarray  # float (D,), NaN for the founder
    genes_changed: np.ndarray  # int64 (D,), 0 for the founder
    phenotype_change: object  # int64 (D,) controller weights changed, or None when unavailable
    phenotype_note: str
    mrca_id: object  # int or None (several founder lineages survive)
    mrca_generation: object
    final_population: np.ndarray  # int64
    founder_lineages: np.ndarray  # int64 (generations,)
    diversity: np.ndarray  # float64 (generations,), NaN when not computed
    diversity_sample: int
    fitness_threshold: float
    first_proxy: object  # dict or None
    all_line_parents: np.ndarray = dataclasses.field(default=None, repr=False)  # int64 (N,) for exports
    probe_name: str = ""  # a registered probe re-run on every ancestor (--reevaluate --probe), or ""
    probe_metrics: dict = dataclasses.field(default_factory=dict)  # metric -> {"value", "low", "high"}: float64 (D,)
    metrics: dict = dataclasses.field(default_factory=dict)
    """/tests metric column (``door_rate``, ``learning.success_rate``, ...) -> float (D, W) along the line."""

    @property
    def mean_door_rate(self):
        """Door rate at test averaged over the test worlds, per ancestor (NaN if unscored)."""
        return _nanmean_rows(self.door_rate)

    @property
    def mean_proxy_rate(self):
        """Proxy rate at test averaged over the test worlds, per ancestor (NaN if unscored)."""
        return _nanmean_rows(self.proxy_rate)

    @property
    def first_proxy_generation(self):
        """Generation where pseudo-alignment first appeared on the line of descent, or None."""
        return None if self.first_proxy is None else self.first_proxy["generation"]

    def to_dict(self):
        """Return the report as plain JSON-ready Python values (NaN becomes None)."""
        return {
            "run": self.run_path,
            "generations": self.committed_generations,
            "individuals": self.individual_count,
            "start_id": self.start_id,
            "lod_length": int(len(self.line_of_descent)),
            "line_of_descent": self.line_of_descent.tolist(),
            "lod_generations": self.generation.tolist(),
            "lod_fitness": _json_floats(self.fitness),
            "lod_test_door_rate": _json_floats(self.mean_door_rate),
            "lod_test_proxy_rate": _json_floats(self.mean_proxy_rate),
            "lod_test_metrics": {name: _json_floats(_nanmean_rows(values)) for name, values in self.metrics.items()},
            "lod_genome_distance": _json_floats(self.genome_distance),
            "lod_genes_changed": self.genes_changed.tolist(),
            "lod_phenotype_change": None
            if self.phenotype_change is None
            else np.asarray(self.phenotype_change).tolist(),
            "phenotype_note": self.phenotype_note,
            "test_source": self.test_source,
            "test_worlds": list(self.test_world_names),
            "mrca_id": self.mrca_id,
            "mrca_generation": self.mrca_generation,
            "final_population_size": int(len(self.final_population)),
            "fitness_threshold": _json_float(self.fitness_threshold),
            "first_proxy_generation": self.first_proxy_generation,
            "first_proxy": self.first_proxy,
            "per_generation": {
                "founder_lineages": self.founder_lineages.tolist(),
                "diversity": _json_floats(self.diversity),
                "diversity_sample": self.diversity_sample,
            },
            "lod_probe": None
            if not self.probe_name
            else {
                "probe": self.probe_name,
                "metrics": {
                    name: {part: _json_floats(values) for part, values in parts.items()}
                    for name, parts in self.probe_metrics.items()
                },
            },
        }


def analyse_lineage(
    run,
    *,
    individual_id=None,
    fitness_fraction=0.9,
    diversity_sample=64,
    diversity_seed=0,
    reevaluate_world=None,
    episodes=1000,
    seed=None,
    reevaluate_probe=None,
):
    """Trace the line of descent of a run's champion and measure coalescence and the proxy.

    Args:
        run: a RUN_DIR, a run file path, or an open RunReader.
        individual_id: start the line here instead of at the last champion.
        fitness_fraction: training fitness counts as high from this fraction of the way
            between the lowest and highest base fitness along the line.
        diversity_sample: genomes sampled per generation for the diversity estimate
            (0 skips diversity).
        diversity_seed: seeds the diversity samples.
        reevaluate_world: a world TOML path; when given every ancestor is re-tested there in
            one batched rollout instead of using the run file's periodic scores.
        episodes: test episodes per ancestor when re-evaluating (the same levels for all).
        seed: seeds the re-evaluation levels (default: the probe's default seed, so the
            numbers match ``evosandbox probe`` on the same world).
        reevaluate_probe: with ``reevaluate_world``, also run this registered probe (e.g.
            ``learning``) on every ancestor; its metrics go to ``probe_metrics``.

    Returns:
        A LineageReport.
    """
    if not 0.0 <= fitness_fraction <= 1.0:
        raise UsageError(f"must lie in [0, 1], got {fitness_fraction}", field="--fitness-fraction")
    opened = contextlib.nullcontext(run) if isinstance(run, RunReader) else RunReader(run)
    with opened as reader:
        return _analyse(
            reader,
            individual_id,
            fitness_fraction,
            diversity_sample,
            diversity_seed,
            reevaluate_world,
            episodes,
            seed,
            reevaluate_probe,
        )


def _analyse(
    reader,
    individual_id,
    fitness_fraction,
    diversity_sample,
    diversity_seed,
    reevaluate_world,
    episodes,
    seed,
    reevaluate_probe=None,
):
    """Run every lineage measurement on an open reader."""
    if reader.committed_generations == 0:
        raise FileFormatError(reader.path, "generations/done", "no generation committed yet, nothing to trace")
    columns = reader.columns(("generation", "parent_1", "parent_2", "operator"))
    generation = columns["generation"]
    parents_1, parents_2 = columns["parent_1"], columns["parent_2"]
    _check_parents(reader.path, parents_1, parents_2)
    bounds = reader.generation_bounds()
    start_id = reader.champion_id() if individual_id is None else int(individual_id)
    if not 0 <= start_id < reader.individual_count:
        raise UsageError(
            f"no committed individual {start_id} (committed ids: 0..{reader.individual_count - 1})", field="--id"
        )
    parents = line_parents(reader, parents_1, parents_2)
    lod = line_of_descent(parents, start_id)
    final_population = np.union1d(np.arange(bounds[-2], bounds[-1], dtype=np.int64), [reader.champion_id()])
    mrca_id = most_recent_common_ancestor(parents, generation, final_population)
    founder_lineages = founder_lineage_counts(parents, bounds)
    if diversity_sample > 0:
        diversity = genetic_diversity(reader, bounds, diversity_sample, diversity_seed)
    else:
        diversity = np.full(len(bounds) - 1, np.nan)
    fitness = reader.column("fitness")
    fitness = (fitness[:, 0] if fitness.ndim == 2 else fitness)[lod]
    lod_genomes = reader.genomes(lod)
    lod_parent = parents[lod]
    parent_genomes = reader.genomes(np.where(lod_parent >= 0, lod_parent, lod))
    delta = lod_genomes - parent_genomes
    genome_distance = np.sqrt(np.einsum("ij,ij->i", delta, delta, dtype=np.float64))
    genome_distance[lod_parent < 0] = np.nan
    genes_changed = np.count_nonzero(delta, axis=1).astype(np.int64)
    phenotype_change, phenotype_note = _phenotype_change(reader, lod_genomes, parent_genomes, lod_parent)
    if reevaluate_world is not None:
        metrics, names = _reevaluate(reader, lod_genomes, reevaluate_world, episodes, seed)
        test_source = f"reevaluated on {os.path.basename(os.fspath(reevaluate_world))} ({episodes} episodes each)"
    else:
        metrics = _scores_from_run(reader, lod)
        names = reader.test_world_names
        test_source = "run file periodic test scores on " + (", ".join(names) if names else "no test world")
    door_rate, proxy_rate = metrics["door_rate"], metrics["proxy_rate"]
    operator_names = reader.operator_names
    operators = tuple(
        operator_names[code] if code < len(operator_names) else str(code) for code in columns["operator"][lod]
    )
    report = LineageReport(
        run_path=reader.path,
        committed_generations=reader.committed_generations,
        individual_count=reader.individual_count,
        start_id=start_id,
        line_of_descent=lod,
        generation=generation[lod],
        parent_1=parents_1[lod],
        parent_2=parents_2[lod],
        line_parent=lod_parent,
        operator=operators,
        fitness=fitness,
        door_rate=door_rate,
        proxy_rate=proxy_rate,
        test_world_names=tuple(names),
        metrics=metrics,
        test_source=test_source,
        genome_distance=genome_distance,
        genes_changed=genes_changed,
        phenotype_change=phenotype_change,
        phenotype_note=phenotype_note,
        mrca_id=mrca_id,
        mrca_generation=None if mrca_id is None else int(generation[mrca_id]),
        final_population=final_population,
        founder_lineages=founder_lineages,
        diversity=diversity,
        diversity_sample=int(diversity_sample),
        fitness_threshold=math.nan,
        first_proxy=None,
        all_line_parents=parents,
    )
    report.fitness_threshold, report.first_proxy = find_first_proxy(report, fitness_fraction, delta)
    if reevaluate_world is not None and reevaluate_probe:
        report.probe_name = reevaluate_probe
        report.probe_metrics = _reevaluate_probe(
            reader, lod_genomes, reevaluate_world, reevaluate_probe, episodes, seed
        )
    return report


# -- the genealogy ----------------------------------------------------------------------------


def line_parents(reader, parents_1, parents_2):
    """Return int64 (N,): each individual's line parent (the closer of two parents), -1 for founders.

    Args:
        reader: an open RunReader (genomes are read only for two-parent individuals, in batches).
        parents_1: int64 (N,) first parents.
        parents_2: int64 (N,) second parents (-1 = none).

    Returns:
        int64 (N,) line parents.
    """
    parents = np.array(parents_1, dtype=np.int64, copy=True)
    if getattr(reader, "parent_1_is_line_parent", False):
        return parents  # the writer already put the parent sharing more genes first
    two = np.flatnonzero((parents_2 >= 0) & (parents_2 != parents_1) & (parents_1 >= 0))
    for start in range(0, len(two), _CROSSOVER_BATCH):
        children = two[start : start + _CROSSOVER_BATCH]
        child = reader.genomes(children)
        first = reader.genomes(parents_1[children])
        second = reader.genomes(parents_2[children])
        prefer_second = closer_to_second(child, first, second)
        parents[children[prefer_second]] = parents_2[children[prefer_second]]
    return parents


def closer_to_second(child, first, second):
    """Return bool (n,): True where the child shares more genes with ``second`` than ``first``."""
    shared_first = np.count_nonzero(child == first, axis=1)
    shared_second = np.count_nonzero(child == second, axis=1)
    distance_first = np.einsum("ij,ij->i", child - first, child - first, dtype=np.float64)
    distance_second = np.einsum("ij,ij->i", child - second, child - second, dtype=np.float64)
    return (shared_second > shared_first) | ((shared_second == shared_first) & (distance_second < distance_first))


def line_of_descent(parents, start_id):
    """Return int64 ids from the founder to ``start_id`` following line parents (iteratively).

    Args:
        parents: int64 (N,) line parents, -1 for founders.
        start_id: the last individual of the line.

    Returns:
        int64 (D,), founder first.
    """
    line = []
    current = int(start_id)
    while current >= 0:
        line.append(current)
        parent = int(parents[current])
        if parent >= current:
            raise FileFormatError(
                None, "individuals/parent_1", f"individual {current} names parent {parent}, which is not older"
            )
        current = parent
    return np.array(line[::-1], dtype=np.int64)


def most_recent_common_ancestor(parents, generation, ids):
    """Return the most recent common line ancestor of ``ids`` (an id itself counts), or None.

    Sweeps back one generation at a time: the latest members of the set are replaced by their
    line parents until one individual is left (None when distinct founders remain).
    """
    current = np.unique(np.asarray(ids, dtype=np.int64))
    while len(current) > 1:
        latest_generation = generation[current].max()
        latest = generation[current] == latest_generation
        replaced = parents[current[latest]]
        if (replaced < 0).any():
            return None  # founders without parents but more than one lineage left
        current = np.unique(np.concatenate([current[~latest], replaced]))
    return int(current[0]) if len(current) else None


def founder_ids(parents):
    """Return int64 (N,): the founder each individual descends from along line parents.

    Pointer jumping: every pass doubles how far each pointer reaches, so a line of depth D
    takes about log2(D) vectorised passes.
    """
    ids = np.arange(len(parents), dtype=np.int64)
    roots = np.where(parents >= 0, parents, ids)
    while True:
        jumped = roots[roots]
        if np.array_equal(jumped, roots):
            return roots
        roots = jumped


def founder_lineage_counts(parents, bounds):
    """Return int64 (generations,): distinct founder lineages present in each generation's population."""
    founders = founder_ids(parents)
    generation_of_row = np.repeat(np.arange(len(bounds) - 1, dtype=np.int64), np.diff(bounds))
    count = np.int64(max(len(parents), 1))
    pairs = np.unique(generation_of_row * count + founders[: len(generation_of_row)])
    return np.bincount(pairs // count, minlength=len(bounds) - 1).astype(np.int64)


def genetic_diversity(reader, bounds, sample, seed):
    """Return float64 (generations,): mean pairwise genome distance per generation (sampled).

    Generations larger than ``sample`` are estimated on ``sample`` genomes drawn without
    replacement from a generator seeded by (seed, generation).
    """
    generations = len(bounds) - 1
    diversity = np.full(generations, np.nan)
    row_bytes = max(1, reader.genome_length) * 4
    rows_per_read = max(1, _GENOME_BYTES_PER_READ // row_bytes)
    first = 0
    while first < generations:
        last = first + 1
        while last < generations and bounds[last + 1] - bounds[first] <= rows_per_read:
            last += 1
        if bounds[last] - bounds[first] <= rows_per_read:
            slab = reader.genome_rows(bounds[first], bounds[last])
            offset = bounds[first]
        else:
            slab, offset = None, 0  # one generation larger than a read: sample it directly
        for generation in range(first, last):
            start, stop = int(bounds[generation]), int(bounds[generation + 1])
            size = stop - start
            if size < 2:
                continue
            rows = np.arange(start, stop)
            if size > sample:
                rng = derive_generator("diversity", seed, generation)
                rows = np.sort(rng.choice(rows, size=sample, replace=False))
            genomes = slab[rows - offset] if slab is not None else reader.genomes(rows)
            diversity[generation] = mean_pairwise_distance(genomes)
        first = last
    return diversity


def mean_pairwise_distance(genomes):
    """Return the mean Euclidean distance over all pairs of rows of ``genomes``."""
    genomes = np.asarray(genomes, dtype=np.float64)
    count = len(genomes)
    if count < 2:
        return math.nan
    squares = np.einsum("ij,ij->i", genomes, genomes)
    distances = squares[:, None] + squares[None, :] - 2.0 * genomes @ genomes.T
    upper = np.triu_indices(count, k=1)
    return float(np.sqrt(np.maximum(distances[upper], 0.0)).mean())


def last_seen_generations(parents_1, parents_2, generation):
    """Return int64 (N,): the last generation each individual is known alive (born, or parent of a child)."""
    last = generation.astype(np.int64)
    for parents in (parents_1, parents_2):
        has = parents >= 0
        np.maximum.at(last, parents[has], generation[has].astype(np.int64) - 1)
    return last


# -- along the line of descent -----------------------------------------------------------------


def find_first_proxy(report, fitness_fraction, delta=None):
    """Return (fitness threshold, first-proxy dict or None) for a report's line of descent."""
    fitness = report.fitness.astype(np.float64)
    finite = fitness[np.isfinite(fitness)]
    if not len(finite):
        return math.nan, None
    threshold = float(finite.min() + fitness_fraction * (finite.max() - finite.min()))
    door, proxy = report.mean_door_rate, report.mean_proxy_rate
    scored = np.flatnonzero(np.isfinite(door) & np.isfinite(proxy))
    hits = scored[(proxy[scored] > door[scored]) & (fitness[scored] >= threshold)]
    if not len(hits):
        return threshold, None
    position = int(hits[0])
    earlier = scored[scored < position]
    previous = int(earlier[-1]) if len(earlier) else None
    # The switch happened somewhere after the previous scored ancestor; the step with the
    # largest genome change in that stretch is the likeliest culprit (exact when it is one step).
    stretch = np.arange((previous + 1) if previous is not None else 0, position + 1)
    stretch = stretch[report.line_parent[stretch] >= 0] if len(stretch) > 1 else stretch
    distances = np.nan_to_num(report.genome_distance[stretch], nan=-1.0)
    culprit = int(stretch[int(np.argmax(distances))])
    result = {
        "generation": int(report.generation[position]),
        "id": int(report.line_of_descent[position]),
        "lod_index": position,
        "door_rate": float(door[position]),
        "proxy_rate": float(proxy[position]),
        "fitness": float(fitness[position]),
        "previous_scored_generation": None if previous is None else int(report.generation[previous]),
        "steps_in_stretch": int(len(stretch)),
        "mutation": _step(report, culprit, delta),
    }
    return threshold, result


def _step(report, index, delta):
    """Describe one step of the line of descent (the child at ``index`` and its line parent)."""
    step = {
        "id": int(report.line_of_descent[index]),
        "generation": int(report.generation[index]),
        "line_parent": int(report.line_parent[index]),
        "parents": [int(p) for p in (report.parent_1[index], report.parent_2[index]) if p >= 0],
        "operator": report.operator[index],
        "genome_distance": _json_float(report.genome_distance[index]),
        "genes_changed": int(report.genes_changed[index]),
        "phenotype_change": None if report.phenotype_change is None else int(report.phenotype_change[index]),
    }
    if delta is not None:
        change = np.abs(delta[index])
        largest = np.argsort(-change, kind="stable")[: min(5, int(np.count_nonzero(change)))]
        step["largest_gene_changes"] = {int(gene): float(delta[index, gene]) for gene in largest}
    return step


def _scores_from_run(reader, lod):
    """Return {metric column: float (D, W)} along the line from the run file's periodic test scores.

    Every /tests metric column is included (interval columns are not); door_rate and
    proxy_rate always are (NaN when the run did not score the proxy probe).
    """
    worlds = len(reader.test_world_names)
    tests = reader.tests()
    names = [
        name
        for name in tests
        if name not in ("id", "generation", "world", "episodes") and not name.endswith((".low", ".high"))
    ]
    metrics = {name: np.full((len(lod), worlds), np.nan) for name in ["door_rate", "proxy_rate", *names]}
    if not len(tests["id"]):
        return metrics
    position = {int(individual): index for index, individual in enumerate(lod)}
    order = np.argsort(tests["generation"], kind="stable")  # later scores of the same id win
    for row in order:
        index = position.get(int(tests["id"][row]))
        world = int(tests["world"][row])
        if index is not None and 0 <= world < worlds:
            for name in names:
                metrics[name][index, world] = tests[name][row]
    return metrics


def _load_specs(reader):
    """Return (training world spec, genome spec) parsed from the texts stored in the run file."""
    return reader.specs()


def _develop(reader, genomes, world_spec=None):
    """Develop genomes into ControllerParams with the run's own encoding."""
    from evosandbox.genomes import make_encoding

    train_world, genome_spec = _load_specs(reader)
    encoding = make_encoding(genome_spec, world_spec or train_world)
    return encoding.develop(np.ascontiguousarray(genomes, dtype=np.float32))


def _phenotype_change(reader, lod_genomes, parent_genomes, lod_parent):
    """Return (controller weights changed per step or None, a note saying how it was measured)."""
    try:
        child = _develop(reader, lod_genomes)
        parent = _develop(reader, parent_genomes)
    except Exception as error:  # an unreadable preset must not sink the rest of the analysis
        return None, f"phenotype change unavailable: could not develop the run's genomes ({error})"
    changed = np.zeros(len(lod_genomes), np.int64)
    for name in ("input_weights", "hidden_bias", "recurrent_weights", "output_weights", "output_bias"):
        difference = np.abs(getattr(child, name) - getattr(parent, name)).reshape(len(lod_genomes), -1)
        changed += np.count_nonzero(difference > PHENOTYPE_TOLERANCE, axis=1)
    changed[lod_parent < 0] = 0
    return (
        changed,
        f"controller weights changed by more than {PHENOTYPE_TOLERANCE:g} (developed with the run's encoding)",
    )


def _reevaluate(reader, genomes, world_path, episodes, seed):
    """Measure every ancestor with the run's probes on one world, one batched call per probe.

    The probes are the run config's ``[test] probes``, the proxy probe always among them (the
    line's door and proxy rates come from it). Returns ({metric column: float (D, 1)}, names).
    """
    from evosandbox.probes import get_probe
    from evosandbox.probes.proxy import DEFAULT_SEED
    from evosandbox.runfile.run_write import test_column
    from evosandbox.worlds import resolve_world

    world = resolve_world(world_path)
    train_world, _ = _load_specs(reader)
    params = _develop(reader, genomes, world)
    metrics = {}
    for probe_name in _run_probes(reader):
        results = get_probe(probe_name).measure(
            params, world, train_world, episodes, DEFAULT_SEED if seed is None else seed
        )
        for name in results[0].metrics:
            metrics[test_column(probe_name, name)] = np.array([[result.value(name)] for result in results])
    return metrics, (world.name,)


def _run_probes(reader):
    """Return the probes a run's config names under ``[test] probes``, the proxy probe first."""
    import tomllib

    try:
        named = tomllib.loads(reader.config_text).get("test", {}).get("probes", [])
    except (tomllib.TOMLDecodeError, AttributeError):
        named = []
    return ("proxy", *(name for name in named if name != "proxy"))


HEADLINE_METRICS = {"learning": "learning_gain", "thinking": "planning_effect", "generalisation": "success_area_4"}
"""The metric of a probe that the lineage plot and summary show (else its first metric)."""


def headline_metric(report):
    """Return the name of the probe metric the plot and summary show, or None without a probe."""
    if not report.probe_name:
        return None
    name = HEADLINE_METRICS.get(report.probe_name)
    return name if name in report.probe_metrics else next(iter(report.probe_metrics))


def _reevaluate_probe(reader, genomes, world_path, probe_name, episodes, seed):
    """Run a registered probe on every ancestor in one call; return {metric: {value, low, high} (D,)}."""
    from evosandbox.config import load_world
    from evosandbox.probe import DEFAULT_SEED
    from evosandbox.probes import get_probe

    world = load_world(world_path)
    train_world, _ = _load_specs(reader)
    params = _develop(reader, genomes, world)
    results = get_probe(probe_name).measure(
        params, world, train_world, episodes, DEFAULT_SEED if seed is None else seed
    )
    return {
        name: {
            part: np.array([getattr(result.metrics[name], part) for result in results], dtype=np.float64)
            for part in ("value", "low", "high")
        }
        for name in results[0].metrics
    }


def _check_parents(path, parents_1, parents_2):
    """Raise FileFormatError when a parent id is not an older committed individual."""
    ids = np.arange(len(parents_1), dtype=np.int64)
    for name, parents in (("individuals/parent_1", parents_1), ("individuals/parent_2", parents_2)):
        bad = (parents >= ids) | (parents < -1)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise FileFormatError(
                path, name, f"individual {row} names parent {int(parents[row])}, which is not an older individual"
            )


# -- outputs -------------------------------------------------------------------------------------


def summary_text(report):
    """Return the human-readable summary of a lineage report."""
    lines = [
        f"run: {report.run_path} ({report.committed_generations} generations committed, {report.individual_count} individuals)",
        f"line of descent: {len(report.line_of_descent)} ancestors from founder {report.line_of_descent[0]} "
        f"(generation {report.generation[0]}) to {report.start_id} (generation {report.generation[-1]})",
    ]
    if report.mrca_id is None:
        lines.append(
            f"coalescence: none, {report.founder_lineages[-1]} founder lineages survive in the final population"
        )
    else:
        lines.append(
            f"coalescence: most recent common ancestor of the final population is {report.mrca_id} (generation {report.mrca_generation})"
        )
    lines.append(
        f"founder lineages: {report.founder_lineages[0]} at generation 0, {report.founder_lineages[-1]} at the end"
    )
    finite = np.isfinite(report.diversity)
    if finite.any():
        lines.append(
            f"genetic diversity (mean pairwise distance, sample <= {report.diversity_sample}): "
            f"{report.diversity[finite][0]:.4g} first, {report.diversity[finite][-1]:.4g} last"
        )
    scored = int(np.count_nonzero(np.isfinite(report.mean_door_rate)))
    mean = "; the rates below are their mean over the test worlds" if len(report.test_world_names) > 1 else ""
    lines.append(f"test scores: {report.test_source}; {scored} of {len(report.line_of_descent)} ancestors scored{mean}")
    lines.append(report.phenotype_note)
    headline = headline_metric(report)
    if headline is not None:
        values = report.probe_metrics[headline]
        lines.append(
            f"probe {report.probe_name} on every ancestor: {headline} {values['value'][0]:+.3f} at the founder, "
            f"{values['value'][-1]:+.3f} [{values['low'][-1]:+.3f}, {values['high'][-1]:+.3f}] at {report.start_id}; "
            f"its interval is above zero for {int(np.count_nonzero(values['low'] > 0))} of {len(values['value'])} ancestors"
        )
    if report.first_proxy is None:
        lines.append(
            f"pseudo-alignment: the proxy rate never exceeds the door rate at test while training fitness >= {report.fitness_threshold:.4g}"
        )
    else:
        first = report.first_proxy
        mutation = first["mutation"]
        lines.append(
            f"pseudo-alignment appeared at generation {first['generation']} (id {first['id']}): "
            f"proxy {first['proxy_rate']:.3f} > door {first['door_rate']:.3f}, fitness {first['fitness']:.4g} >= {report.fitness_threshold:.4g}"
        )
        where = (
            ""
            if first["steps_in_stretch"] <= 1
            else f" (largest of {first['steps_in_stretch']} steps since generation {first['previous_scored_generation']})"
        )
        lines.append(
            f"the mutation{where}: id {mutation['id']} ({mutation['operator']} of {mutation['parents']}), "
            f"{mutation['genes_changed']} genes changed, genome distance {mutation['genome_distance']}"
        )
    return "\n".join(lines)


def write_line_of_descent_csv(report, path):
    """Write the line of descent, one row per ancestor (founder first), to a CSV file."""
    door, proxy = report.mean_door_rate, report.mean_proxy_rate
    phenotype = report.phenotype_change
    header = "lod_index,id,generation,line_parent,parent_1,parent_2,operator,fitness,test_door_rate,test_proxy_rate,genome_distance,genes_changed,phenotype_change"
    lines = [header]
    for index, individual in enumerate(report.line_of_descent):
        lines.append(
            ",".join(
                [
                    str(index),
                    str(individual),
                    str(report.generation[index]),
                    str(report.line_parent[index]),
                    str(report.parent_1[index]),
                    str(report.parent_2[index]),
                    report.operator[index],
                    _csv_float(report.fitness[index]),
                    _csv_float(door[index]),
                    _csv_float(proxy[index]),
                    _csv_float(report.genome_distance[index]),
                    str(report.genes_changed[index]),
                    "" if phenotype is None else str(phenotype[index]),
                ]
            )
        )
    _write_atomic(path, "\n".join(lines) + "\n")


def write_phylogeny_csv(reader, report, path, rows_per_block=200_000):
    """Write the ALife-standard phylogeny table of every committed individual.

    Columns: ``id, ancestor_list, origin_time, destruction_time`` (the ALife data standard;
    ``[none]`` for founders; destruction_time is the last generation the individual is known
    alive, ``none`` for the final population, which is extant), then ``generation,
    line_parent, operator, fitness, on_line_of_descent``.
    """
    columns = reader.columns(("generation", "parent_1", "parent_2", "operator", "fitness"))
    generation, parents_1, parents_2 = columns["generation"], columns["parent_1"], columns["parent_2"]
    fitness = columns["fitness"][:, 0] if columns["fitness"].ndim == 2 else columns["fitness"]
    parents = report.all_line_parents
    if parents is None or len(parents) != len(generation):
        parents = line_parents(reader, parents_1, parents_2)
    last_seen = last_seen_generations(parents_1, parents_2, generation)
    extant = np.zeros(len(generation), bool)
    extant[report.final_population] = True
    on_line = np.zeros(len(generation), bool)
    on_line[report.line_of_descent] = True
    operator_names = list(reader.operator_names) + [str(code) for code in range(len(reader.operator_names), 256)]
    with atomic_output(path) as temporary, open(temporary, "w", encoding="utf-8") as handle:
        handle.write(
            "id,ancestor_list,origin_time,destruction_time,generation,line_parent,operator,fitness,on_line_of_descent\n"
        )
        for start in range(0, len(generation), rows_per_block):
            stop = min(start + rows_per_block, len(generation))
            rows = zip(
                range(start, stop),
                parents_1[start:stop].tolist(),
                parents_2[start:stop].tolist(),
                generation[start:stop].tolist(),
                last_seen[start:stop].tolist(),
                extant[start:stop].tolist(),
                parents[start:stop].tolist(),
                columns["operator"][start:stop].tolist(),
                fitness[start:stop].tolist(),
                on_line[start:stop].tolist(),
            )
            handle.writelines(
                f'{individual},"{_ancestor_list(first, second)}",{born},{"none" if alive else seen},{born},'
                f"{parent},{operator_names[operator]},{value:.9g},{int(line)}\n"
                for individual, first, second, born, seen, alive, parent, operator, value, line in rows
            )


@dataclasses.dataclass
class PrunedPhylogeny:
    """The extant-pruned phylogeny: the final population and its line ancestors, one tree.

    ``ids`` are the kept individuals (ascending); ``parent`` their line parent within the
    tree, the virtual root's id for founders when several founders survive, -1 for the root.
    """

    ids: np.ndarray  # int64 (M,), ascending; the virtual root (if any) is last
    parent: np.ndarray  # int64 (M,)
    time: np.ndarray  # int64 (M,) generation born (-1 for the virtual root)
    extant: np.ndarray  # bool (M,)
    virtual_root: object  # int id of the virtual root, or None when the lineages coalesce

    @property
    def leaf_count(self):
        """Return how many leaves the Newick tree has: one per extant individual."""
        return int(np.count_nonzero(self.extant))


def pruned_phylogeny(parents, generation, extant_ids):
    """Return the PrunedPhylogeny of ``extant_ids`` along line parents.

    Keeps every line ancestor of an extant individual (walked back one parent per pass, so a
    line of 100,000 generations costs 100,000 vectorised steps, not recursion). When more
    than one founder is kept, a virtual root (id N, time -1) becomes their common parent.
    """
    parents = np.asarray(parents, np.int64)
    kept = np.zeros(len(parents), bool)
    frontier = np.unique(np.asarray(extant_ids, np.int64))
    while len(frontier):
        kept[frontier] = True
        above = parents[frontier]
        above = above[above >= 0]
        frontier = np.unique(above[~kept[above]])
    ids = np.flatnonzero(kept).astype(np.int64)
    parent = parents[ids].copy()
    time = np.asarray(generation, np.int64)[ids]
    extant = np.zeros(len(ids), bool)
    extant[np.searchsorted(ids, np.unique(np.asarray(extant_ids, np.int64)))] = True
    virtual_root = None
    if np.count_nonzero(parent < 0) > 1:
        virtual_root = int(len(parents))
        parent[parent < 0] = virtual_root
        ids, parent = np.append(ids, virtual_root), np.append(parent, -1)
        time, extant = np.append(time, -1), np.append(extant, False)
    return PrunedPhylogeny(ids, parent, time, extant, virtual_root)


def write_pruned_csv(tree, path):
    """Write the extant-pruned phylogeny as an ALife-standard table (one ancestor per row: a tree).

    Columns: ``id, ancestor_list, origin_time, destruction_time`` (``none`` for the extant,
    which are alive, and for their ancestors, whose death the table does not record), then
    ``extant`` and ``virtual`` (1 for the added root).
    """
    lines = ["id,ancestor_list,origin_time,destruction_time,extant,virtual"]
    for individual, parent, born, alive in zip(
        tree.ids.tolist(), tree.parent.tolist(), tree.time.tolist(), tree.extant.tolist()
    ):
        ancestors = "[none]" if parent < 0 else f"[{parent}]"
        lines.append(f'{individual},"{ancestors}",{born},none,{int(alive)},{int(individual == tree.virtual_root)}')
    _write_atomic(path, "\n".join(lines) + "\n")


def newick_text(tree):
    """Return the extant-pruned phylogeny in Newick, one leaf per extant individual.

    Chains of single-child ancestors are collapsed (branch lengths count generations); an
    extant individual with descendants becomes an internal node plus a zero-length leaf of
    its own. Labels are ``id<N>`` (``root`` for a virtual root), never bare numbers, which
    readers take for support values. Written without recursion (lines may be 100,000 deep).
    """
    if not len(tree.ids):
        return ";"
    index = {int(individual): position for position, individual in enumerate(tree.ids.tolist())}
    children = [[] for _ in range(len(tree.ids))]
    root = 0
    for position, parent in enumerate(tree.parent.tolist()):
        if parent < 0:
            root = position
        else:
            children[index[parent]].append(position)

    def shown(position):
        """Return the first node at or below ``position`` that is extant or branches."""
        while not tree.extant[position] and len(children[position]) == 1:
            position = children[position][0]
        return position

    def label(position):
        """Return a node's Newick label."""
        individual = int(tree.ids[position])
        return "root" if individual == tree.virtual_root else f"id{individual}"

    def frame(position):
        """Return a stack entry: [node, the nodes shown below it, how many are written]."""
        return [position, [shown(child) for child in children[position]], 0]

    tokens = []
    stack = [frame(shown(root))]
    while stack:
        position, below, written = stack[-1]
        own_leaf = bool(tree.extant[position]) and bool(below)
        if written == 0 and below:
            tokens.append("(")
            if own_leaf:
                tokens.append(f"{label(position)}:0")
        if written < len(below):
            if written or own_leaf:
                tokens.append(",")
            stack[-1][2] += 1
            stack.append(frame(below[written]))
            continue
        stack.pop()
        tokens.append((")" if below else "") + label(position))
        if stack:
            tokens.append(f":{int(tree.time[position] - tree.time[stack[-1][0]])}")
    return "".join(tokens) + ";"


def write_newick(tree, path):
    """Write ``newick_text(tree)`` to ``path`` atomically."""
    _write_atomic(path, newick_text(tree) + "\n")


def _ancestor_list(first, second):
    """Format an ALife ancestor list: ``[none]``, ``[12]`` or ``[12,15]``."""
    if first < 0:
        return "[none]"
    if second < 0 or second == first:
        return f"[{first}]"
    return f"[{first},{second}]"


def plot_line_of_descent(report, path):
    """Save a PNG of training fitness, test door rate and test proxy rate along the line of descent."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    figure = Figure(figsize=(9, 4.5), dpi=100)
    fitness_axis = figure.add_subplot(1, 1, 1)
    rate_axis = fitness_axis.twinx()
    x = report.generation
    fitness_axis.plot(x, report.fitness, color=PLOT_COLORS["fitness"], linewidth=2.0, label="training fitness")
    for name, values in (("door", report.mean_door_rate), ("proxy", report.mean_proxy_rate)):
        finite = np.isfinite(values)
        rate_axis.plot(
            x[finite],
            values[finite],
            color=PLOT_COLORS[name],
            linewidth=2.0,
            marker="o",
            markersize=3,
            label=f"test {name} rate",
        )
    headline = headline_metric(report)
    if headline is not None:
        values = report.probe_metrics[headline]
        rate_axis.plot(
            x, values["value"], color=PLOT_COLORS["probe"], linewidth=1.5, label=f"{report.probe_name}: {headline}"
        )
        rate_axis.fill_between(x, values["low"], values["high"], color=PLOT_COLORS["probe"], alpha=0.2, linewidth=0)
    if report.first_proxy is not None:
        rate_axis.axvline(
            report.first_proxy["generation"],
            color=PLOT_COLORS["marker"],
            linestyle="--",
            linewidth=1.5,
            label=f"proxy first wins (generation {report.first_proxy['generation']})",
        )
    from matplotlib.ticker import MaxNLocator

    fitness_axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    fitness_axis.set_xlabel("generation (line of descent)")
    fitness_axis.set_ylabel("training fitness (base objective)")
    rate_axis.set_ylabel("test rate")
    low = -0.02 if headline is None else min(-0.02, float(np.nanmin(report.probe_metrics[headline]["low"])) - 0.02)
    rate_axis.set_ylim(low, 1.02)
    handles = fitness_axis.get_legend_handles_labels()
    more = rate_axis.get_legend_handles_labels()
    rate_axis.legend(handles[0] + more[0], handles[1] + more[1], loc="upper left", fontsize=8)
    fitness_axis.set_title(f"line of descent of {report.start_id} ({report.test_source})", fontsize=9)
    figure.tight_layout()
    with atomic_output(path) as temporary:
        figure.savefig(temporary, format="png")


# Curve colours of the plot (fixed so a reader of the PNG can tell the curves apart).
PLOT_COLORS = {"fitness": "#1f3fbf", "door": "#1a9e3a", "proxy": "#e02020", "marker": "#808080", "probe": "#8a2be2"}


def _write_atomic(path, text):
    """Write ``text`` to ``path`` through a temporary file and an atomic rename."""
    with atomic_output(path) as temporary, open(temporary, "w", encoding="utf-8") as handle:
        handle.write(text)


def _nanmean_rows(values):
    """Return the mean of each row ignoring NaN (NaN where a row has no finite value)."""
    values = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(values)
    counts = finite.sum(axis=1)
    sums = np.where(finite, values, 0.0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def _json_float(value):
    """Return a float, or None for NaN and infinities."""
    value = float(value)
    return value if math.isfinite(value) else None


def _json_floats(values):
    """Return a list of floats with None for NaN."""
    return [_json_float(value) for value in np.asarray(values, dtype=np.float64)]


def _csv_float(value):
    """Format a float for CSV (empty for NaN)."""
    value = float(value)
    return f"{value:.9g}" if math.isfinite(value) else ""
