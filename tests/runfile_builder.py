"""Write synthetic run files in the documented ``RUN_DIR/run.h5`` layout, for tests and benchmarks.

``build_run_file`` writes a whole run at once from a known family tree; ``RunFileBuilder``
appends generation by generation under SWMR, like the evolution loop does, so tests can read a
file while another process is still writing it or after that process died mid-generation.
"""

import datetime

import h5py
import numpy as np

SCHEMA_VERSION = 1
LIBVER = ("v110", "latest")
OPERATOR_NAMES = ("init", "mutation", "crossover", "crossover+mutation", "copy", "cma", "es")
TEST_COLUMNS = (
    ("id", np.int64),
    ("generation", np.int32),
    ("world", np.int32),
    ("door_rate", np.float32),
    ("proxy_rate", np.float32),
    ("other_rate", np.float32),
    ("timeout_rate", np.float32),
    ("episodes", np.int32),
)


def _world_text(name, door_color, ball_color):
    """Return a small open world's TOML: one door and one ball of the given colours."""
    return f"""name = "{name}"

[grid]
generator = "open"
width = 9
height = 9
max_steps = 40

[observation]
view_size = 3
type_radius = 1
color_radius = 2

[door]
colors = ["{door_color}"]

[[objects]]
kind = "ball"
colors = ["{ball_color}"]
"""


TRAIN_WORLD_TEXT = _world_text("synthetic-train", "red", "green")
TEST_WORLD_TEXT = _world_text("synthetic-test", "blue", "red")
GENOME_PRESET_TEXT = """name = "synthetic"
encoding = "direct"

[controller]
hidden = 2
recurrent = false
"""
CONFIG_TEXT = 'name = "synthetic"\nseed = 0\n'


class RunFileBuilder:
    """Create a run file with every dataset, switch SWMR on, then append and commit generations."""

    def __init__(
        self,
        path,
        population_size,
        genome_length,
        *,
        objectives=("door_reward",),
        weights=None,
        test_world_names=("synthetic-test",),
        test_world_texts=None,
        seed=0,
        swmr=True,
        train_world_text=TRAIN_WORLD_TEXT,
        genome_preset_text=GENOME_PRESET_TEXT,
        config_text=CONFIG_TEXT,
    ):
        """Create the file with its root attributes, string datasets and empty columns."""
        self.population_size = int(population_size)
        self.world_count = len(test_world_names)
        self.handle = h5py.File(path, "w", libver=LIBVER)
        handle = self.handle
        handle.attrs["format"] = "evosandbox-run"
        handle.attrs["schema_version"] = SCHEMA_VERSION
        handle.attrs["software_version"] = "0.1.0"
        handle.attrs["created"] = datetime.datetime(2024, 1, 1).isoformat()
        handle.attrs["seed"] = int(seed)
        handle.attrs["population_size"] = self.population_size
        text = h5py.string_dtype()
        handle.create_dataset("config", data=config_text, dtype=text)
        handle.create_dataset("train_world", data=train_world_text, dtype=text)
        handle.create_dataset("genome_preset", data=genome_preset_text, dtype=text)
        if test_world_texts is None:
            test_world_texts = [TEST_WORLD_TEXT] * self.world_count
        worlds = handle.create_dataset("test_worlds", data=list(test_world_texts), dtype=text)
        worlds.attrs["names"] = list(test_world_names)
        rows = self.population_size
        individuals = handle.create_group("individuals")
        individuals.attrs["objectives"] = list(objectives)
        individuals.attrs["weights"] = list(weights if weights is not None else [1.0] * len(objectives))
        individuals.attrs["operators"] = list(OPERATOR_NAMES)
        self.individual_columns = {
            "id": ((), np.int64),
            "generation": ((), np.int32),
            "parent_1": ((), np.int64),
            "parent_2": ((), np.int64),
            "operator": ((), np.uint8),
            "fitness": ((len(objectives),), np.float32),
            "outcomes": ((3,), np.int32),
        }
        for name, (tail, dtype) in self.individual_columns.items():
            individuals.create_dataset(name, (0, *tail), maxshape=(None, *tail), chunks=(rows, *tail), dtype=dtype)
        handle.create_dataset(
            "genomes",
            (0, genome_length),
            maxshape=(None, genome_length),
            chunks=(rows, genome_length),
            dtype=np.float32,
        )
        generations = handle.create_group("generations")
        self.generation_columns = {
            "generation": ((), np.int32),
            "individual_count": ((), np.int64),
            "best_fitness": ((), np.float32),
            "mean_fitness": ((), np.float32),
            "champion_id": ((), np.int64),
            "validation_door_rate": ((), np.float32),
            "evaluations_per_s": ((), np.float32),
            "wall_time": ((), np.float64),
            "test_door_rate": ((self.world_count,), np.float32),
            "test_proxy_rate": ((self.world_count,), np.float32),
        }
        for name, (tail, dtype) in self.generation_columns.items():
            generations.create_dataset(name, (0, *tail), maxshape=(None, *tail), chunks=(64, *tail), dtype=dtype)
        generations.create_dataset("done", data=np.zeros(1, np.int64))
        tests = handle.create_group("tests")
        for name, dtype in TEST_COLUMNS:
            tests.create_dataset(name, (0,), maxshape=(None,), chunks=(64,), dtype=dtype)
        if swmr:
            handle.swmr_mode = True

    def append_individuals(self, columns, genomes):
        """Append individual rows (a dict of column arrays) and their genome rows; return first id."""
        start = self.handle["individuals/id"].shape[0]
        count = len(genomes)
        for name in self.individual_columns:
            _append(self.handle[f"individuals/{name}"], np.asarray(columns[name]), start, count)
        _append(self.handle["genomes"], np.asarray(genomes, np.float32), start, count)
        return start

    def append_generations(self, columns):
        """Append /generations rows (a dict of column arrays, one row per generation)."""
        count = len(columns["generation"])
        start = self.handle["generations/generation"].shape[0]
        for name in self.generation_columns:
            _append(self.handle[f"generations/{name}"], np.asarray(columns[name]), start, count)

    def append_tests(self, columns):
        """Append /tests rows (a dict with at least id, generation, world, door_rate, proxy_rate)."""
        count = len(columns["id"])
        start = self.handle["tests/id"].shape[0]
        for name, dtype in TEST_COLUMNS:
            default = 0 if name != "episodes" else 1
            values = np.asarray(columns.get(name, np.full(count, default)), dtype)
            _append(self.handle[f"tests/{name}"], values, start, count)

    def commit(self, done):
        """Write the committed generation count last and flush, as the evolution loop does."""
        self.handle["generations/done"][0] = int(done)
        self.handle.flush()

    def close(self):
        """Close the file."""
        self.handle.close()


def build_run_file(
    path,
    parents,
    generations,
    fitness,
    genomes=None,
    tests=None,
    *,
    operators=None,
    champion_ids=None,
    committed_generations=None,
    population_size=None,
    genome_length=8,
    test_world_names=("synthetic-test",),
    seed=0,
    swmr=True,
    **builder_options,
):
    """Write a complete run file from a known family tree and return its path.

    Args:
        path: the .h5 file to write.
        parents: int (N,) first parents or (N, 2) both parents; -1 = none. Ids are row numbers.
        generations: int (N,) generation each individual was born in, non-decreasing from 0.
        fitness: float (N,) base objective or (N, F) objectives.
        genomes: float (N, G); by default each child is its line parent plus seeded noise
            (crossover children take the first half of their genes from parent 1, the rest from 2).
        tests: dict of /tests columns (id, generation, world, door_rate, proxy_rate, ...).
        operators: uint8 (N,); by default init, mutation, or crossover for two parents.
        champion_ids: int (generations,); by default the best base fitness committed so far.
        committed_generations: /generations/done; rows of later generations are written but
            not committed (a file cut off mid-run).
        population_size: chunk rows and root attribute; by default the largest generation.
        genome_length: G when genomes are generated.
        test_world_names: names of the test worlds (their count sets W).

    Returns:
        The path written.
    """
    parents = np.asarray(parents, np.int64)
    if parents.ndim == 1:
        parents = np.stack([parents, np.full_like(parents, -1)], axis=1)
    generations = np.asarray(generations, np.int32)
    fitness = np.asarray(fitness, np.float32)
    if fitness.ndim == 1:
        fitness = fitness[:, None]
    count = len(generations)
    generation_count = int(generations.max()) + 1 if count else 0
    sizes = np.bincount(generations, minlength=generation_count)
    if population_size is None:
        population_size = int(sizes.max()) if count else 1
    if operators is None:
        operators = np.where(parents[:, 0] < 0, 0, np.where(parents[:, 1] >= 0, 2, 1)).astype(np.uint8)
    if genomes is None:
        genomes = _inherited_genomes(parents, generations, genome_length, seed)
    genomes = np.asarray(genomes, np.float32)
    individual_count = np.cumsum(sizes).astype(np.int64)
    if champion_ids is None:
        champion_ids = _running_champions(fitness[:, 0], individual_count)
    champion_ids = np.asarray(champion_ids, np.int64)
    builder = RunFileBuilder(
        path,
        population_size,
        genomes.shape[1],
        objectives=tuple(f"objective_{index}" if index else "door_reward" for index in range(fitness.shape[1])),
        test_world_names=test_world_names,
        seed=seed,
        swmr=swmr,
        **builder_options,
    )
    try:
        builder.append_individuals(
            {
                "id": np.arange(count, dtype=np.int64),
                "generation": generations,
                "parent_1": parents[:, 0],
                "parent_2": parents[:, 1],
                "operator": operators,
                "fitness": fitness,
                "outcomes": np.zeros((count, 3), np.int32),
            },
            genomes,
        )
        world_count = len(test_world_names)
        door = np.full((generation_count, world_count), np.nan, np.float32)
        proxy = np.full((generation_count, world_count), np.nan, np.float32)
        if tests is not None:
            tests = {name: np.asarray(values) for name, values in tests.items()}
            inside = tests["generation"] < generation_count
            scored = np.zeros(len(inside), bool)
            scored[inside] = champion_ids[tests["generation"][inside]] == tests["id"][inside]
            door[tests["generation"][scored], tests["world"][scored]] = tests["door_rate"][scored]
            proxy[tests["generation"][scored], tests["world"][scored]] = tests["proxy_rate"][scored]
            builder.append_tests(tests)
        starts = np.concatenate([[0], individual_count[:-1]])
        best = np.array(
            [fitness[start:end, 0].max() if end > start else np.nan for start, end in zip(starts, individual_count)],
            np.float32,
        )
        mean = np.array(
            [fitness[start:end, 0].mean() if end > start else np.nan for start, end in zip(starts, individual_count)],
            np.float32,
        )
        builder.append_generations(
            {
                "generation": np.arange(generation_count, dtype=np.int32),
                "individual_count": individual_count,
                "best_fitness": best,
                "mean_fitness": mean,
                "champion_id": champion_ids,
                "validation_door_rate": np.zeros(generation_count, np.float32),
                "evaluations_per_s": np.full(generation_count, 1000.0, np.float32),
                "wall_time": np.arange(1, generation_count + 1, dtype=np.float64),
                "test_door_rate": door,
                "test_proxy_rate": proxy,
            }
        )
        builder.commit(generation_count if committed_generations is None else committed_generations)
    finally:
        builder.close()
    return path


def _append(dataset, values, start, count):
    """Grow ``dataset`` to hold ``count`` more rows from ``start`` and write ``values`` there."""
    dataset.resize(start + count, axis=0)
    if count:
        dataset[start : start + count] = values


def _inherited_genomes(parents, generations, genome_length, seed):
    """Make genomes where each child is its first parent (half from the second) plus noise."""
    rng = np.random.default_rng(seed)
    count = len(generations)
    genomes = np.empty((count, genome_length), np.float32)
    founders = parents[:, 0] < 0
    genomes[founders] = rng.normal(size=(int(founders.sum()), genome_length))
    half = genome_length // 2
    bounds = np.searchsorted(generations, np.arange(int(generations.max()) + 2 if count else 0))
    for start, end in zip(bounds[1:-1], bounds[2:]):
        rows = start + np.flatnonzero(~founders[start:end])
        child = genomes[parents[rows, 0]]
        two = parents[rows, 1] >= 0
        child[two, half:] = genomes[parents[rows[two], 1], half:]
        genomes[rows] = child + rng.normal(scale=0.05, size=child.shape)
    return genomes


def _running_champions(base_fitness, individual_count):
    """Return, per generation, the id of the best base fitness among the rows committed so far."""
    champions = np.empty(len(individual_count), np.int64)
    best_id, start = -1, 0
    for generation, end in enumerate(individual_count):
        if end > start:
            local = start + int(np.argmax(base_fitness[start:end]))
            if best_id < 0 or base_fitness[local] > base_fitness[best_id]:
                best_id = local
        champions[generation] = best_id
        start = end
    return champions
