"""The base optimizer's loop: ``evolve`` and ``resume``, one generation at a time.

DEAP supplies tournament and truncation selection, NSGA-II, CMA-ES (``deap.cma.Strategy``),
Statistics and HallOfFame; this loop adds what its maintainers leave to the user: the whole
generation is scored in one batched numba call (``Evaluator.score``), every individual is
written to the run file with its parents, a checkpoint is written atomically after every
generation, and a crashed run resumes bit-identically.

Reproducibility: ``random`` (which DEAP's selection uses) is seeded once from the run seed and
its state is checkpointed; every other draw comes from a numpy Generator derived by
``evosandbox.seeding`` from (purpose, run seed, generation), so a resumed run makes the same
draws as an uninterrupted one.
"""

import dataclasses
import functools
import math
import os
import random
import shutil
import time
from dataclasses import dataclass, field

import numpy as np
from deap import tools

from evosandbox.errors import FileFormatError, UsageError
from evosandbox.evaluate import Scores
from evosandbox.evolution.algorithms import individuals, make_algorithm
from evosandbox.evolution.champion import hall_of_fame_entrants, score_tests, test_columns, validate
from evosandbox.evolution.checkpoint import (
    CHECKPOINT_FILE,
    RunState,
    checkpoint_bytes,
    checkpoint_generation,
    checkpoint_payload,
    pickle_checkpoint,
    read_checkpoint,
    restore_genomes,
    write_checkpoint_bytes,
)
from evosandbox.evolution.experiment import (
    OBJECTIVE_WEIGHTS,
    EvaluationConfig,
    override,
    render_config,
    training_level_seeds,
    validation_level_seeds,
)
from evosandbox.evolution.lock import hold_run_folder
from evosandbox.evolution.recorder import START_PAUSE, Interrupt, Progress, Recorder
from evosandbox.resources import check_memory, format_bytes
from evosandbox.runfile.rebuild import rebuild_record
from evosandbox.runfile.run_write import GenerationRecord, RunHeader, RunWriter
from evosandbox.seeding import derive_generator, derive_seed, derive_seeds

RUN_FILE = "run.h5"


@dataclass
class RunSummary:
    """What a finished (or interrupted) run reached."""

    run_dir: str
    generations: int
    """Committed generations."""
    champion_id: int
    champion_validation_fitness: float
    champion_validation_door_rate: float
    champion_test_door_rate: tuple
    """Door rate of the champion on each test world at its last scoring."""
    champion_test_proxy_rate: tuple
    wall_time: float
    """Seconds of evolution (all sessions of a resumed run)."""
    interrupted: bool = False
    timings: dict = field(default_factory=dict)
    """Seconds this session spent per stage (ask, score, select, validate, test, write,
    checkpoint; write is the wait for the recorder; other: the rest of each generation, such
    as its statistics; generations: all of the generations, stages included; finish: the wait
    for the last generation's write, after them), on background
    threads overlapping them (writer: run file and checkpoint; draws: the prefetched random
    draws) and, from the evaluator, in develop and in the rollout kernel call alone."""
    agent_steps: int = 0
    """Agent steps simulated this session (when the evaluator counts them)."""
    test_world_names: tuple = ()
    """Names of the test worlds, in the order of the champion's test rates."""
    evaluator_timings: dict = field(default_factory=dict)
    """Stage -> {"develop": s, "rollout": s}: the evaluator's develop and rollout kernel
    seconds within each stage of ``timings`` (score, validate, test), so that a stage's time
    outside the kernel is its time minus these."""


def build_evaluator(config):
    """Build the Evaluator an experiment config describes."""
    from evosandbox.evaluate import Evaluator

    evaluation = config.evaluation
    return Evaluator(
        config.genome_preset,
        config.train_world,
        backend=evaluation.backend,
        threads=evaluation.threads,
        scheduler=evaluation.scheduler or None,
        chunk_size=evaluation.chunk_size,
        shaping=config.shaping,
    )


def evolve(config, run_dir, problem=None, force=False, progress=None):
    """Run an experiment from generation 0 into ``run_dir`` (run.h5 and checkpoint.pkl).

    Args:
        config: ExperimentConfig.
        run_dir: output folder; refused if it already holds a run, unless ``force``.
        problem: the evaluator (default: develop + rollout as the config says). Anything with
            ``genome_length``, ``initial_genomes(count, rng)`` and
            ``score(genomes, world, level_seeds, seed) -> Scores`` works.
        force: replace an existing run in ``run_dir``.
        progress: show progress: a bar on a terminal, else a line per tenth of the run (default: on a terminal).
    Returns:
        RunSummary.
    """
    run_dir = os.fspath(run_dir)
    run_path = os.path.join(run_dir, RUN_FILE)
    checkpoint_path = os.path.join(run_dir, CHECKPOINT_FILE)
    if os.path.exists(run_dir) and not os.path.isdir(run_dir):
        raise UsageError(f"{run_dir} exists and is not a folder", "--out")
    existing = [p for p in (run_path, checkpoint_path) if os.path.exists(p)]
    if existing and not force and not unfinished_start(run_dir):
        raise _holds_a_run(run_dir)
    owns_problem = problem is None
    problem = problem if problem is not None else build_evaluator(config)
    try:
        # Everything that can refuse the run comes before anything on disk changes (--force).
        check_population_memory(config, problem.genome_length)
        config = storage_for(config, problem)
        algorithm = _algorithm_for(config, problem)
        random.seed(config.seed)
        state = RunState(
            config=config,
            generation=0,
            algorithm_state=algorithm.init(derive_generator("init", config.seed)),
            hall_of_fame=tools.HallOfFame(config.algorithm.hall_of_fame, similar=np.array_equal),
            validated={},
            tested={},
            champion=(-1, None),
            next_id=0,
            random_state=None,
            elapsed=0.0,
            individual_count=0,
            header_created=_now(),
        )
        state.random_state = random.getstate()
        os.makedirs(run_dir, exist_ok=True)
        with hold_run_folder(run_dir, "--out"):
            replace = force or unfinished_start(run_dir)
            for path in (run_path, checkpoint_path):
                if os.path.exists(path):
                    if not replace:  # another start got here first
                        raise _holds_a_run(run_dir)
                    os.unlink(path)
            initial_checkpoint = checkpoint_bytes(state)
            header = _header(config, problem, state.header_created)

            def open_run_file():
                # The checkpoint comes first: from the moment the folder holds anything, --resume works.
                write_checkpoint_bytes(checkpoint_path, initial_checkpoint)
                return RunWriter.create(run_path, header)

            # The recorder's thread creates the files while generation 0 plays (about 15 ms).
            return Loop(config, problem, algorithm, state, open_run_file, run_dir, progress).run()
    finally:
        if owns_problem:
            problem.close()


def resume(run_dir, problem=None, generations=None, scheduler=None, threads=None, progress=None):
    """Continue a run from its checkpoint, after a clean stop or any crash.

    The run file is cut back to the checkpoint's generation and the loop continues; the
    finished file equals the one an uninterrupted run would have written.

    Args:
        run_dir: the run folder.
        problem: the evaluator (default: from the checkpointed config).
        generations: a new total generation count (to extend a finished run).
        scheduler, threads: where to evaluate (not stored: results do not depend on it).
        progress: show progress: a bar on a terminal, else a line per tenth of the run (default: on a terminal).
    Returns:
        RunSummary.
    """
    run_dir = os.fspath(run_dir)
    if os.path.isfile(run_dir):
        raise UsageError(
            f"{run_dir} is a file; --resume takes the run folder that holds it (and {CHECKPOINT_FILE})", "--resume"
        )
    checkpoint_path = os.path.join(run_dir, CHECKPOINT_FILE)
    run_path = os.path.join(run_dir, RUN_FILE)
    state = read_checkpoint(checkpoint_path)
    config = state.config
    if generations is not None and generations < state.generation:
        raise UsageError(
            f"the run already has {state.generation} generations, cannot shorten it to {generations}", "--generations"
        )
    config = override(
        dataclasses.replace(config, evaluation=EvaluationConfig()),
        generations=generations,
        scheduler=scheduler,
        threads=threads,
    )
    # A run keeps the genome storage its file began with (a checkpoint from before seeds: full).
    config = dataclasses.replace(
        config,
        genomes=_stored_storage(run_path) or vars(config).get("genomes", "full"),
        keyframe_every=vars(config).get("keyframe_every", config.keyframe_every),
    )
    state.config = config
    with hold_run_folder(run_dir, "--resume"):
        salvaged, looping = None, False
        if state.generation > 0 or _has_committed(run_path):
            if not os.path.exists(run_path):
                raise FileFormatError(
                    run_path, None, f"no such file (the checkpoint is at generation {state.generation})"
                )
            check_belongs(run_path, state)
            check_room_to_salvage(run_path)
            # Before the evaluator is built (seconds of kernel loading on a busy machine): a
            # damaged or cut run file is refused at once.
            salvaged = RunWriter.salvage(run_path, state.generation, config_text=render_config(config))
        owns_problem = problem is None
        try:
            problem = problem if problem is not None else build_evaluator(config)
            algorithm = _algorithm_for(config, problem)
            writer = salvaged or RunWriter.create(run_path, _header(config, problem, state.header_created))
            restore_genomes(state, _StoredGenomes(writer))
            random.setstate(state.random_state)
            looping = True  # from here the loop owns the writer (and a fault ends the process)
            return Loop(config, problem, algorithm, state, writer, run_dir, progress).run()
        except BaseException:
            if salvaged is not None and not looping and salvaged.handle.id.valid:
                salvaged.handle.close()
            raise
        finally:
            if owns_problem and problem is not None:
                problem.close()


def _holds_a_run(run_dir):
    """Return the error for an --out folder that already holds a run."""
    return UsageError(
        f"{run_dir} already holds a run; pass --force to overwrite it or --resume to continue it", "--out"
    )


def unfinished_start(run_dir):
    """Return whether ``run_dir`` holds only a start that committed nothing, which a new start may replace.

    That is a checkpoint still at generation 0 (a start refused, stopped or crashed before its
    first generation ended) beside no run file with a committed generation.
    """
    if checkpoint_generation(os.path.join(run_dir, CHECKPOINT_FILE)) != 0:
        return False
    return not _has_committed(os.path.join(run_dir, RUN_FILE))


def check_population_memory(config, genome_length):
    """Raise UsageError, with the figures, when the population's genomes cannot fit in memory."""
    size = config.algorithm.population_size
    # Parents and offspring as float32 genomes, and the controllers developed from them (at
    # least one weight per gene): a lower bound of what a generation holds at once.
    check_memory(
        3 * 4 * size * int(genome_length),
        f"a population of {size:,} genomes of {int(genome_length):,} genes",
        "use a smaller [algorithm] population_size or a smaller genome",
    )


def check_room_to_salvage(run_path):
    """Raise UsageError when the disk cannot hold the copy of run.h5 that salvage writes beside it."""
    needed, free = os.path.getsize(run_path), shutil.disk_usage(os.path.dirname(os.path.abspath(run_path))).free
    if needed > free:
        raise UsageError(
            f"resume copies the committed part of {run_path} ({format_bytes(needed)}) beside it, "
            f"and the disk has {format_bytes(free)} free; free some space and resume again",
            "--resume",
        )


def check_belongs(run_path, state):
    """Raise FileFormatError unless the run file was started with the checkpoint (same seed, same creation time)."""
    from evosandbox.runfile.common import open_for_reading, read_attr_str

    with open_for_reading(run_path, "evosandbox-run", swmr=True, cut_short=True) as handle:
        seed, created = int(handle.attrs.get("seed", -1)), read_attr_str(handle, "created", "")
    if (seed, created) != (state.config.seed, state.header_created):
        raise FileFormatError(
            run_path,
            "created",
            f"belongs to another run (seed {seed}, created {created}) than "
            f"{os.path.join(os.path.dirname(run_path), CHECKPOINT_FILE)} "
            f"(seed {state.config.seed}, created {state.header_created})",
        )


def storage_for(config, problem):
    """Return ``config`` with genomes = "full" when ``problem`` draws founders a run file cannot
    draw again (a custom evaluator: only the run's own encoding's initial genomes can be)."""
    if config.genomes == "seeds" and not getattr(problem, "initial_genomes_from_encoding", False):
        return dataclasses.replace(config, genomes="full")
    return config


def _stored_storage(run_path):
    """Return the genome storage of an existing run file (None when there is none to read)."""
    from evosandbox.runfile.common import open_for_reading, read_attr_str

    if not os.path.exists(run_path):
        return None
    try:
        with open_for_reading(run_path, "evosandbox-run", swmr=True) as handle:
            return read_attr_str(handle, "genome_storage", "full")
    except (FileFormatError, OSError):
        return None


class _StoredGenomes:
    """The genomes of an open run file, indexed by sorted id lists like ``/genomes``: its rows, or,
    for a seeds file, its individuals rebuilt (what restore_genomes reads on resume)."""

    def __init__(self, writer):
        """Wrap an open RunWriter."""
        self.writer = writer
        self.shape = writer.handle["genomes"].shape

    def __getitem__(self, ids):
        """Return the genomes of ``ids``."""
        if self.writer.genome_storage != "seeds":
            return self.writer.handle["genomes"][ids]
        from evosandbox.runfile.common import read_attr_str
        from evosandbox.runfile.rebuild import RebuildSource, rebuild_genomes

        handle, done = self.writer.handle, self.writer.committed_generations
        bounds = np.concatenate([[0], handle["generations/individual_count"][:done].astype(np.int64)])
        source = RebuildSource(handle, self.writer.path, done, bounds)
        return rebuild_genomes(source, read_attr_str(handle, "algorithm", ""), ids)


def _has_committed(run_path):
    """Return whether a run file exists with at least one committed generation."""
    from evosandbox.runfile.common import open_for_reading

    if not os.path.exists(run_path):
        return False
    try:
        with open_for_reading(run_path, "evosandbox-run", swmr=True) as handle:
            return int(handle["generations/done"][0]) > 0
    except (FileFormatError, KeyError, OSError):
        return False


def _algorithm_for(config, problem):
    """Build the config's algorithm for a problem's genome length and mutation defaults."""
    return make_algorithm(
        config,
        problem.genome_length,
        problem.initial_genomes,
        getattr(problem, "mutation_sigma", None) or getattr(getattr(problem, "encoding", None), "mutation_sigma", 0.1),
        getattr(problem, "mutation_rate", None) or getattr(getattr(problem, "encoding", None), "mutation_rate", 0.05),
    )


def _header(config, problem, created):
    """Build the run file header of an experiment."""
    encoding = getattr(problem, "encoding", None)
    attributes = {
        "name": config.name,
        "algorithm": config.algorithm.name,
        "encoding": config.genome_preset.encoding,
        "genome_length": int(problem.genome_length),
    }
    if encoding is not None:
        attributes["compression_ratio"] = float(encoding.compression_ratio)
        attributes["parameter_count"] = int(encoding.controller_shape.parameter_count)
    return RunHeader(
        seed=config.seed,
        population_size=config.algorithm.population_size,
        genome_length=problem.genome_length,
        objectives=config.objectives,
        weights=tuple(OBJECTIVE_WEIGHTS[o] for o in config.objectives),
        config_text=render_config(config),
        train_world_text=config.train_world.source_text,
        genome_preset_text=config.genome_preset.source_text,
        test_world_texts=tuple(w.source_text for w in config.test_worlds),
        test_world_names=tuple(w.name for w in config.test_worlds),
        attributes=attributes,
        created=created,
        genome_compression=config.genome_compression,
        test_metrics=test_columns(config),
        genome_storage=config.genomes,
        rebuild_layout=_algorithm_for(config, problem).rebuild_layout(config.keyframe_every)
        if config.genomes == "seeds"
        else None,
    )


_STATISTICS = tools.Statistics()  # over the base objective column
for _name, _function in (("best", np.max), ("mean", np.mean), ("std", np.std)):
    _STATISTICS.register(_name, lambda values, function=_function: float(function(values)))


def _now():
    """Return the current UTC time in ISO format."""
    import datetime

    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


class Loop:
    """The generation loop of one session (a fresh run or a resumed one)."""

    def __init__(self, config, problem, algorithm, state, writer, run_dir, progress):
        """Set up the instance (``writer``: the RunWriter, or a function that makes the run's files and returns it)."""
        self.config = config
        self.problem = problem
        self.algorithm = algorithm
        self.state = state
        self.checkpoint_path = os.path.join(run_dir, CHECKPOINT_FILE)
        self.run_dir = run_dir
        self.progress = Progress(progress, config.generations, initial=state.generation)
        self.validation_seeds = validation_level_seeds(config)
        self.timings = {
            "ask": 0.0,
            "score": 0.0,
            "select": 0.0,
            "validate": 0.0,
            "test": 0.0,
            "write": 0.0,
            "checkpoint": 0.0,
            "other": 0.0,
            "generations": 0.0,
            "finish": 0.0,
        }
        self.evaluator_timings = {}
        self._staged = 0.0  # seconds of this generation in stages so far ("other" is the rest)
        self._evaluator_seconds = self._evaluator_clock()
        if isinstance(writer, RunWriter):
            self.recorder = Recorder(writer, self.checkpoint_path)
        else:  # a function that makes the files: the recorder calls it while generation 0 plays
            self.recorder = Recorder(None, self.checkpoint_path, open_files=writer)
        self._kept_generator = None  # (generation, generator, its starting state): see _variation_generator

    def run(self):
        """Run generations until the configured count or an interrupt; return a RunSummary."""
        interrupted = False
        try:
            with Interrupt() as interrupt:
                while self.state.generation < self.config.generations:
                    self._generation()
                    if interrupt.requested:
                        interrupted = True
                        break
                mark = time.perf_counter()
                self.recorder.wait()
                self._lap("finish", mark)
        finally:
            self.progress.close()
            try:
                self.recorder.close()
            finally:
                if self.recorder.writer is not None:
                    self.recorder.writer.close()
        return self._summary(interrupted)

    def _generation(self):
        """Breed, score, select, validate, test, record and checkpoint one generation."""
        config, state = self.config, self.state
        generation = state.generation
        started = time.perf_counter()
        self._staged = 0.0
        rng = self._variation_generator(generation)

        mark = time.perf_counter()
        offspring = self.algorithm.ask(state.algorithm_state, rng)
        size = len(offspring.genomes)
        ids = np.arange(state.next_id, state.next_id + size, dtype=np.int64)
        background = _BackgroundStart(self.recorder)
        if generation + 1 < config.generations:
            # The next ask's draws depend on its generator alone: made while this generation plays.
            background.prefetch(self.algorithm, self._variation_generator(generation + 1, keep=True))
        self._lap("ask", mark)

        mark = time.perf_counter()
        rollout_seed = derive_seed("training-rollout", config.seed, generation)
        # An evaluator that takes recipes (the Dask backend ships them, not the genomes) gets one.
        extra = (
            {"recipe": offspring.recipe}
            if offspring.recipe is not None and getattr(self.problem, "takes_recipes", False)
            else {}
        )
        # The previous generation is written, and the next one's draws made, while this one
        # plays: from the moment the kernel gets the genomes when the evaluator says when that
        # is, else from now.
        if getattr(self.problem, "takes_before_rollout", False):
            extra["before_rollout"] = background
        else:
            background()
        scores = self.problem.score(
            offspring.genomes, config.train_world, training_level_seeds(config, generation), rollout_seed, **extra
        )
        background()  # (no-op once called)
        scores = self._rescore_elite(offspring.genomes, scores, generation)
        self._lap("score", mark)

        mark = time.perf_counter()
        fitness = objective_matrix(config.objectives, scores, offspring.genomes, config.objective_weights)
        rebuild = None
        if config.genomes == "seeds":
            # Taken before tell, which may change the state that bred this generation in place.
            rebuild = rebuild_record(
                self.algorithm, state.algorithm_state, offspring, fitness[:, 0], generation, config.keyframe_every
            )
        state.algorithm_state = self.algorithm.tell(state.algorithm_state, offspring, ids, fitness)
        origins = np.where(offspring.origin >= 0, offspring.origin, ids)
        # Only the individuals that beat the hall of fame's worst can enter it: wrap just those.
        entrants = hall_of_fame_entrants(state.hall_of_fame, fitness)
        state.hall_of_fame.update(individuals(offspring.genomes, fitness, rows=entrants, id=ids, origin=origins))
        self._lap("select", mark)

        mark = time.perf_counter()
        validate(config, state, self.algorithm, self.problem, self.validation_seeds, offspring, origins, fitness[:, 0])
        self._lap("validate", mark)

        mark = time.perf_counter()
        test_door, test_proxy, tests = score_tests(config, state, self.problem, generation)
        self._lap("test", mark)

        champion_id = state.champion[0]
        champion_scores = state.validated.get(champion_id, (math.nan, math.nan, math.nan))
        elapsed_generation = time.perf_counter() - started
        evaluations_per_s = size / max(elapsed_generation, 1e-9)
        state.elapsed += elapsed_generation
        summary = _STATISTICS.compile(fitness[:, 0])

        mark = time.perf_counter()
        # The record owns fresh arrays except the genomes, which stay valid until the
        # algorithm's next-but-one ask (the GA alternates two buffers): the recorder keeps at
        # most one generation in flight, so this one is on disk before they are overwritten.
        record = GenerationRecord(
            ids=ids,
            generation=generation,
            parent_1=offspring.parent_1,
            parent_2=offspring.parent_2,
            operator=offspring.operator,
            fitness=fitness.astype(np.float32),
            outcomes=np.stack([scores.door, scores.thing, scores.timeout], axis=1).astype(np.int32),
            genomes=offspring.genomes,
            best_fitness=summary["best"],
            mean_fitness=summary["mean"],
            champion_id=int(champion_id),
            validation_door_rate=float(champion_scores[1]),
            evaluations_per_s=evaluations_per_s,
            wall_time=state.elapsed,
            test_door_rate=test_door,
            test_proxy_rate=test_proxy,
            tests=tests,
            rebuild=rebuild,
        )
        state.next_id += size
        state.individual_count += size
        state.generation = generation + 1
        state.random_state = random.getstate()
        self._lap("write", mark)
        state.elapsed += time.perf_counter() - mark

        mark = time.perf_counter()
        # Taken now, before the next generation changes the state; written by the recorder
        # after this generation's rows are appended and flushed. A state that no later ask or
        # tell changes is pickled there too (0.3 ms of the main thread a generation for es).
        if state.algorithm_state.checkpoint_later:
            checkpoint = functools.partial(pickle_checkpoint, checkpoint_payload(state))
        else:
            checkpoint = checkpoint_bytes(state)
        self._lap("checkpoint", mark)
        state.elapsed += time.perf_counter() - mark  # counted from the next checkpoint on

        mark = time.perf_counter()
        self.recorder.submit(record, checkpoint)
        self._lap("write", mark)
        state.elapsed += time.perf_counter() - mark
        test_line = ""
        if tests:
            test_line = "  test " + " ".join(
                f"door {100 * d:.0f}% proxy {100 * p:.0f}%" for d, p in zip(test_door, test_proxy)
            )
        self.progress.generation(
            generation, summary["best"], summary["mean"], float(champion_scores[1]), evaluations_per_s, test_line
        )
        generation_seconds = time.perf_counter() - started
        self.timings["generations"] += generation_seconds
        self.timings["other"] += generation_seconds - self._staged
        self._staged = 0.0

    def _variation_generator(self, generation, keep=False):
        """Return the variation generator of ``generation`` in its starting state.

        The one made with ``keep`` (for the next generation's prefetch) is handed to that
        generation's ask: prefetch draws from a copy, so it is still where its seed put it
        (checked), and deriving another costs about 0.1 ms.
        """
        kept, self._kept_generator = self._kept_generator, None
        if kept is not None and kept[0] == generation and kept[1].bit_generator.state == kept[2]:
            return kept[1]
        rng = derive_generator("variation", self.config.seed, generation)
        if keep:
            self._kept_generator = (generation, rng, rng.bit_generator.state)
        return rng

    def _rescore_elite(self, genomes, scores, generation):
        """Re-score the generation's front-runners on extra shared levels; merge their episodes."""
        parameters = self.config.algorithm
        count = min(parameters.elite_candidates, len(genomes))
        if not count or not parameters.elite_levels:
            return scores
        top = np.sort(np.argsort(-scores.fitness, kind="stable")[:count])
        seeds = derive_seeds("elite", self.config.seed, parameters.elite_levels, generation)
        rollout_seed = derive_seed("elite", self.config.seed, generation, 1)
        extra = self.problem.score(genomes[top], self.config.train_world, seeds, rollout_seed)
        return merge_scores(scores, top, extra)

    def _lap(self, name, mark):
        """Add the time since ``mark`` to a timing bucket, and the evaluator's seconds since the last lap to its share."""
        seconds = time.perf_counter() - mark
        self.timings[name] += seconds
        self._staged += seconds
        clock = self._evaluator_clock()
        if clock != self._evaluator_seconds:
            # The evaluator runs only inside a stage, so what it added since the last lap is this stage's.
            inside = self.evaluator_timings.setdefault(name, {"develop": 0.0, "rollout": 0.0})
            for index, part in enumerate(("develop", "rollout")):
                inside[part] += clock[index] - self._evaluator_seconds[index]
            self._evaluator_seconds = clock

    def _evaluator_clock(self):
        """Return the evaluator's (develop, rollout) seconds so far (zeros for one that keeps no timings)."""
        timings = getattr(self.problem, "timings", None) or {}
        return (timings.get("develop", 0.0), timings.get("rollout", 0.0))

    def _summary(self, interrupted):
        """Return the RunSummary of the state as it stands."""
        state = self.state
        champion = state.champion[0]
        validation = state.validated.get(champion, (math.nan, math.nan, math.nan))
        door, proxy = state.last_tests if state.last_tests else ((), ())
        timings = dict(self.timings)
        timings["writer"] = self.recorder.seconds
        timings.update(getattr(self.algorithm, "timings", {}))
        timings.update(getattr(self.problem, "timings", {}))
        return RunSummary(
            self.run_dir,
            state.generation,
            int(champion),
            validation[0],
            validation[1],
            door,
            proxy,
            state.elapsed,
            interrupted,
            timings,
            int(getattr(self.problem, "agent_steps", 0)),
            tuple(world.name for world in self.config.test_worlds),
            {stage: dict(parts) for stage, parts in self.evaluator_timings.items()},
        )


class _BackgroundStart:
    """Start a generation's background work once (the evaluator's ``before_rollout``): the
    prefetch of the next generation's draws, then the recorder's writing of the previous one,
    on the recorder's one thread.

    It begins once the kernel has the genomes, and the thread first sleeps ``START_PAUSE``: a
    thread that takes the GIL while the main thread is in a compiled call (develop) or in the
    kernel call's preparation holds the main thread up, up to the interpreter's switch
    interval, and by the end of the pause the main thread is in the kernel. Each thread woken
    costs the main thread a hand-over of the GIL, which on a busy machine takes milliseconds,
    so the draws and the writing share one.
    """

    def __init__(self, recorder):
        """Set up the instance."""
        self.recorder = recorder
        self._prefetch = None
        self._called = False

    def prefetch(self, algorithm, rng):
        """Have the call start ``algorithm.prefetch(rng)`` too."""
        self._prefetch = (algorithm, rng)

    def __call__(self):
        """Start the work (once)."""
        if self._called:
            return
        self._called = True
        if self._prefetch is not None:
            algorithm, rng = self._prefetch
            # On the recorder's thread, ahead of its writing: one thread woken, not two.
            algorithm.prefetch(rng, delay=START_PAUSE, executor=self.recorder.thread)
        self.recorder.start()


def merge_scores(scores, rows, extra):
    """Return ``scores`` with ``extra`` episodes of the genomes at ``rows`` pooled in.

    Fitness and steps become means over all episodes; outcome counts add up (so re-scored rows
    count more episodes than the others); ``episodes`` stays the count every genome played.
    """
    merged = Scores(
        scores.fitness.copy(),
        scores.door.copy(),
        scores.proxy.copy(),
        scores.other.copy(),
        scores.timeout.copy(),
        scores.steps.copy(),
        scores.episodes,
    )
    total = scores.episodes + extra.episodes
    merged.fitness[rows] = (scores.fitness[rows] * scores.episodes + extra.fitness * extra.episodes) / total
    merged.steps[rows] = (scores.steps[rows] * scores.episodes + extra.steps * extra.episodes) / total
    for name in ("door", "proxy", "other", "timeout"):
        getattr(merged, name)[rows] += getattr(extra, name)
    return merged


def objective_matrix(objectives, scores, genomes, weights=()):
    """Return the (N, F) fitness matrix: mean return, then any penalties in config order.

    With ``weights`` (one per extra objective) column 0 is the scalarised selection fitness,
    return - sum(weight * measure); the measures stay in columns 1.., unweighted.
    """
    columns = []
    for name in objectives:
        if name == "return":
            columns.append(scores.fitness)
        elif name == "description-length":
            columns.append(np.abs(genomes).mean(axis=1, dtype=np.float64))
        elif name == "steps":
            columns.append(np.asarray(scores.steps, np.float64))
    if weights:
        penalised = np.asarray(columns[0], np.float64).copy()
        for weight, measure in zip(weights, columns[1:]):
            penalised -= weight * measure
        columns[0] = penalised
    return np.stack(columns, axis=1)
