"""Lineage analysis on hand-built run files whose family tree, MRCA and proxy switch are known."""

import ast
import csv
import json
import os

import h5py
import numpy as np
import pytest
from PIL import Image
from runfile_builder import TEST_WORLD_TEXT, build_run_file

from evosandbox import lineage
from evosandbox.cli import main
from evosandbox.commands.lineage import line_of_descent_csv_path
from evosandbox.errors import UsageError
from evosandbox.runfile.run_read import RunReader

# Four founders (generation 0) and four generations of four children. Individual 13 is a
# crossover of 8 and 9 that took most of its genes from 9, so its line parent is 9.
PARENTS = [(-1, -1)] * 4 + [
    (0, -1),
    (0, -1),
    (1, -1),
    (2, -1),
    (4, -1),
    (5, -1),
    (4, -1),
    (7, -1),
    (8, -1),
    (8, 9),
    (10, -1),
    (9, -1),
    (12, -1),
    (13, -1),
    (12, -1),
    (14, -1),
]
GENERATION = np.repeat(np.arange(5), 4)
FITNESS = [0.1, 0.0, 0.0, 0.0, 0.3, 0.5, 0.2, 0.1, 0.4, 0.9, 0.3, 0.2, 0.5, 0.95, 0.4, 0.3, 0.6, 1.0, 0.5, 0.4]
CHAMPIONS = [0, 5, 9, 13, 17]
# Periodic test scores. 9 prefers the proxy but its fitness (0.9) is below the bar
# (0.1 + 0.9 * (1.0 - 0.1) = 0.91); 11 prefers it too but is off the line; 13 is the first.
TESTS = {
    "id": [5, 9, 11, 13, 17],
    "generation": [1, 2, 2, 3, 4],
    "world": [0] * 5,
    "door_rate": [0.9, 0.4, 0.1, 0.2, 0.1],
    "proxy_rate": [0.1, 0.6, 0.9, 0.8, 0.9],
}


def _genomes(genome_length=6, first_from_second=4, seed=1):
    """Genomes of the known tree: a child copies its parent and changes one gene by 0.5."""
    rng = np.random.default_rng(seed)
    genomes = np.zeros((len(PARENTS), genome_length), np.float32)
    genomes[:4] = rng.normal(size=(4, genome_length))
    for child, (first, second) in enumerate(PARENTS):
        if first < 0:
            continue
        genomes[child] = genomes[first]
        if second >= 0:  # the last ``first_from_second`` genes come from the second parent
            genomes[child, genome_length - first_from_second :] = genomes[second, genome_length - first_from_second :]
        genomes[child, child % genome_length] += 0.5
    return genomes


def _known_run(folder, **options):
    """Write the known tree's run file into ``folder`` and return the folder as str."""
    options.setdefault("genomes", _genomes())
    build_run_file(str(folder / "run.h5"), PARENTS, GENERATION, FITNESS, tests=TESTS, champion_ids=CHAMPIONS, **options)
    return str(folder)


def _cli(capsys, *argv):
    """Run the CLI in-process; return (exit code, stdout, stderr)."""
    code = main(["lineage", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def test_known_tree_line_of_descent_mrca_and_first_proxy(tmp_path):
    report = lineage.analyse_lineage(_known_run(tmp_path))
    assert report.line_of_descent.tolist() == [0, 5, 9, 13, 17]
    assert report.generation.tolist() == [0, 1, 2, 3, 4]
    assert report.line_parent.tolist() == [-1, 0, 5, 9, 13]
    assert report.operator == ("init", "mutation", "mutation", "crossover", "mutation")
    assert (report.mrca_id, report.mrca_generation) == (0, 0)
    assert report.final_population.tolist() == [16, 17, 18, 19]
    assert report.founder_lineages.tolist() == [4, 3, 2, 1, 1]
    assert report.fitness_threshold == pytest.approx(0.91)
    assert report.first_proxy_generation == 3
    first = report.first_proxy
    assert first["id"] == 13 and first["previous_scored_generation"] == 2 and first["steps_in_stretch"] == 1
    mutation = first["mutation"]
    assert mutation["id"] == 13 and mutation["line_parent"] == 9 and mutation["parents"] == [8, 9]
    assert mutation["operator"] == "crossover"
    # 13 took genes 2..5 from 9 and gene 1 mutated: one gene differs from its line parent.
    assert mutation["genes_changed"] == 1 and mutation["genome_distance"] == pytest.approx(0.5, abs=1e-6)
    assert list(mutation["largest_gene_changes"]) == [1]
    np.testing.assert_allclose(report.mean_door_rate[1:], [0.9, 0.4, 0.2, 0.1], rtol=1e-6)
    assert np.isnan(report.mean_door_rate[0])  # the founder was never scored


def test_line_parent_follows_the_parent_sharing_more_genes(tmp_path):
    """When 13 takes most genes from 8 instead, the line (and so the MRCA) goes through 8."""
    report = lineage.analyse_lineage(_known_run(tmp_path, genomes=_genomes(first_from_second=1)))
    assert report.line_of_descent.tolist() == [0, 4, 8, 13, 17]
    assert (report.mrca_id, report.mrca_generation) == (4, 1)
    assert report.first_proxy_generation == 3  # 13 is still the first high-fitness proxy-seeker


def test_start_id_and_no_proxy(tmp_path):
    report = lineage.analyse_lineage(_known_run(tmp_path), individual_id=19)
    assert report.line_of_descent.tolist() == [0, 4, 10, 14, 19]
    assert report.first_proxy is None  # nobody on this line was scored
    with pytest.raises(UsageError, match="no committed individual 20"):
        lineage.analyse_lineage(tmp_path, individual_id=20)


def test_surviving_founders_leave_no_mrca(tmp_path):
    parents = [-1, -1, 0, 1, 2, 3]
    build_run_file(str(tmp_path / "run.h5"), parents, [0, 0, 1, 1, 2, 2], [0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
    report = lineage.analyse_lineage(tmp_path)
    assert report.mrca_id is None and report.mrca_generation is None
    assert report.founder_lineages.tolist() == [2, 2, 2]


def test_partial_run_uses_committed_generations_only(tmp_path):
    report = lineage.analyse_lineage(_known_run(tmp_path, committed_generations=3))
    assert report.committed_generations == 3
    assert report.line_of_descent.tolist() == [0, 5, 9]  # the generation-2 champion
    # "High" is relative to the line's own fitness range: 9 (0.9) now clears 0.1 + 0.9 * 0.8.
    assert report.fitness_threshold == pytest.approx(0.82)
    assert report.first_proxy_generation == 2 and report.first_proxy["id"] == 9


def test_line_of_descent_of_100000_generations_is_iterative(tmp_path):
    count = 100_000
    parents = np.arange(-1, count - 1)
    assert lineage.line_of_descent(parents, count - 1).tolist() == list(range(count))
    build_run_file(
        str(tmp_path / "run.h5"),
        parents,
        np.arange(count),
        np.linspace(0, 1, count),
        genomes=np.zeros((count, 1), np.float32),
        population_size=1000,
    )  # chunk rows
    report = lineage.analyse_lineage(tmp_path, diversity_sample=0)
    assert len(report.line_of_descent) == count and report.line_of_descent[0] == 0
    assert (report.mrca_id, report.mrca_generation) == (count - 1, count - 1)  # one individual left
    assert (report.founder_lineages == 1).all()


def test_founder_ids_and_mrca_match_a_plain_walk():
    rng = np.random.default_rng(5)
    population, generations = 7, 30
    generation = np.repeat(np.arange(generations), population)
    parents = np.full(len(generation), -1)
    for index in range(population, len(generation)):
        parents[index] = rng.integers((generation[index] - 1) * population, generation[index] * population)
    expected = []
    for index in range(len(parents)):
        current = index
        while parents[current] >= 0:
            current = parents[current]
        expected.append(current)
    assert lineage.founder_ids(parents).tolist() == expected
    final = np.arange((generations - 1) * population, generations * population)
    lines = [set(lineage.line_of_descent(parents, individual).tolist()) for individual in final]
    common = set.intersection(*lines)
    assert lineage.most_recent_common_ancestor(parents, generation, final) == (max(common) if common else None)


def test_diversity_is_the_mean_pairwise_distance_and_sampled_when_large(tmp_path):
    genomes = np.array([[0, 0], [3, 4], [0, 0], [6, 8]] + [[float(i), 0.0] for i in range(100)], np.float32)
    generation = [0, 0, 1, 1] + [2] * 100
    parents = [-1, -1, 0, 1] + [2] * 100
    build_run_file(str(tmp_path / "run.h5"), parents, generation, np.zeros(104), genomes=genomes)
    with RunReader(tmp_path) as reader:
        bounds = reader.generation_bounds()
        diversity = lineage.genetic_diversity(reader, bounds, sample=10, seed=3)
        again = lineage.genetic_diversity(reader, bounds, sample=10, seed=3)
    assert diversity[0] == pytest.approx(5.0) and diversity[1] == pytest.approx(10.0)
    assert diversity[2] == again[2]  # seeded sample
    assert 10 < diversity[2] < 60  # a sample of 0..99 on a line (full mean would be 33.67)


def test_cli_json_summary_csv_and_plot(tmp_path, capsys):
    run_dir = _known_run(tmp_path)
    csv_path, png_path = tmp_path / "tree.csv", tmp_path / "line.png"
    code, out, err = _cli(capsys, run_dir, "--json", "--csv", csv_path, "--plot", png_path)
    assert code == 0, err
    result = json.loads(out)
    assert result["lod_length"] == 5 and result["line_of_descent"] == [0, 5, 9, 13, 17]
    assert result["mrca_id"] == 0 and result["mrca_generation"] == 0
    assert result["first_proxy_generation"] == 3 and result["generations"] == 5
    assert result["first_proxy"]["mutation"]["id"] == 13

    # ALife standard: required columns first; ancestor ids exist in the table; founders "[none]".
    with open(csv_path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0])[:4] == ["id", "ancestor_list", "origin_time", "destruction_time"]
    ids = {int(row["id"]) for row in rows}
    assert ids == set(range(20))
    for row in rows:
        ancestors = [] if row["ancestor_list"].lower() == "[none]" else ast.literal_eval(row["ancestor_list"])
        assert set(ancestors) <= ids and all(a < int(row["id"]) for a in ancestors)
        assert [a for a in PARENTS[int(row["id"])] if a >= 0] == ancestors
    by_id = {int(row["id"]): row for row in rows}
    assert by_id[0]["ancestor_list"] == "[none]" and by_id[13]["ancestor_list"] == "[8,9]"
    assert by_id[9]["destruction_time"] == "2"  # last a parent of generation-3 children
    assert by_id[17]["destruction_time"] == "none"  # extant: in the final population
    assert [int(row["id"]) for row in rows if row["on_line_of_descent"] == "1"] == [0, 5, 9, 13, 17]
    with open(line_of_descent_csv_path(str(csv_path)), newline="") as handle:
        steps = list(csv.DictReader(handle))
    assert [int(step["id"]) for step in steps] == [0, 5, 9, 13, 17]
    assert steps[3]["line_parent"] == "9" and float(steps[3]["test_proxy_rate"]) == pytest.approx(0.8)

    # The plot is a real PNG with the three curves (and the first-proxy marker) in their colours.
    with Image.open(png_path) as image:
        assert image.format == "PNG"
        pixels = np.asarray(image.convert("RGB")).reshape(-1, 3).astype(int)
    for name in ("fitness", "door", "proxy", "marker"):
        rgb = np.array([int(lineage.PLOT_COLORS[name][i : i + 2], 16) for i in (1, 3, 5)])
        assert (np.abs(pixels - rgb).sum(axis=1) < 30).sum() > 50, name

    # Existing outputs are kept unless --force says otherwise.
    before = png_path.read_bytes()
    code, out, err = _cli(capsys, run_dir, "--plot", png_path)
    assert code == 2 and "--plot" in err and "already exists" in err and png_path.read_bytes() == before
    code, out, err = _cli(capsys, run_dir, "--csv", csv_path, "--plot", png_path, "--force")
    assert code == 0, err

    code, out, err = _cli(capsys, run_dir)
    assert code == 0 and "pseudo-alignment appeared at generation 3 (id 13)" in out
    assert "most recent common ancestor of the final population is 0 (generation 0)" in out


@pytest.mark.parametrize(
    "argv, field",
    [
        (["--reevaluate"], "--world"),
        (["--plot", "out.jpg"], "--plot"),
        (["--episodes", "0", "--reevaluate", "--world", "w.toml"], "--episodes"),
        (["--csv", "/no/such/folder/tree.csv"], "--csv"),
    ],
)
def test_cli_bad_flags_exit_2_with_one_line(tmp_path, capsys, argv, field):
    code, out, err = _cli(capsys, _known_run(tmp_path), *argv)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and field in err and "Traceback" not in err


def test_cli_bad_run_file_overwrites_nothing(tmp_path, capsys):
    foreign = tmp_path / "foreign.h5"
    build_run_file(str(foreign), [-1], [0], [0.0])
    with h5py.File(foreign, "r+") as handle:
        handle.attrs["format"] = "evosandbox-replay"
    existing = tmp_path / "tree.csv"
    existing.write_text("keep me\n")
    code, out, err = _cli(capsys, foreign, "--csv", existing, "--force")
    assert code == 2 and str(foreign) in err and "format" in err
    assert existing.read_text() == "keep me\n"


def test_phenotype_change_and_reevaluation_use_the_run_encoding(tmp_path, write_world):
    """With the run's real direct encoding, a one-gene mutation changes one controller weight."""
    genomes = _genomes(genome_length=227, first_from_second=200)  # the builder's preset: 227 genes
    report = lineage.analyse_lineage(
        _known_run(tmp_path, genomes=genomes), reevaluate_world=write_world(TEST_WORLD_TEXT), episodes=20, seed=4
    )
    assert report.phenotype_change is not None
    assert report.phenotype_change.tolist() == report.genes_changed.tolist() == [0, 1, 1, 1, 1]
    # Re-evaluation: every ancestor, in one batch, on the same levels as a probe of each alone.
    from evosandbox.config import load_world
    from evosandbox.probe import probe_population

    with RunReader(tmp_path) as reader:
        train, _ = lineage._load_specs(reader)
        world = load_world(write_world(TEST_WORLD_TEXT))
        alone = [
            probe_population(lineage._develop(reader, genomes[[i]], world), world, train, episodes=20, seed=4)
            for i in report.line_of_descent
        ]
    np.testing.assert_allclose(report.door_rate[:, 0], [rates.door_rate[0] for rates in alone])
    np.testing.assert_allclose(report.proxy_rate[:, 0], [rates.proxy_rate[0] for rates in alone])
    assert report.test_source.startswith("reevaluated on")


def test_writer_flag_makes_parent_1_the_line_parent_without_reading_genomes(tmp_path):
    """A writer that records the parent sharing more genes first spares lineage the genome reads."""
    run_dir = _known_run(tmp_path)
    with h5py.File(os.path.join(run_dir, "run.h5"), "r+") as handle:
        handle.attrs["parent_1_is_line_parent"] = True
    with RunReader(run_dir) as reader:
        assert reader.parent_1_is_line_parent
        reader.genomes = None  # any genome read for the tree would now fail
        columns = reader.columns(("parent_1", "parent_2"))
        parents = lineage.line_parents(reader, columns["parent_1"], columns["parent_2"])
    # 13 is a crossover of (8, 9): with the flag, parent_1 (8) is taken as recorded.
    assert parents[13] == 8 and parents.tolist() == [p for p, _ in PARENTS]


def _read_newick(path):
    """Read a Newick file with Bio.Phylo, a real phylogeny library."""
    from Bio import Phylo

    return Phylo.read(str(path), "newick")


def test_pruned_tree_of_the_known_run_reads_as_one_tree_with_a_leaf_per_extant(tmp_path, capsys):
    run_dir = _known_run(tmp_path)
    tree_path, table_path = tmp_path / "tree.nwk", tmp_path / "pruned.csv"
    code, out, err = _cli(capsys, run_dir, "--tree", tree_path, "--tree-csv", table_path)
    assert code == 0, err
    assert f"wrote tree: {tree_path}" in out
    # Final population: generation 4 (16-19); the champion 17 is one of them. 13's line parent is 9.
    tree = _read_newick(tree_path)
    leaves = sorted(clade.name for clade in tree.get_terminals())
    assert leaves == ["id16", "id17", "id18", "id19"]
    assert tree.root.name == "id0"  # they coalesce in founder 0: no virtual root
    assert tree.distance(tree.find_any(name="id17")) == 4  # branch lengths count generations
    with open(table_path, newline="") as handle:
        rows = {int(row["id"]): row for row in csv.DictReader(handle)}
    assert set(rows) == {0, 4, 5, 8, 9, 10, 12, 13, 14, 16, 17, 18, 19}
    assert rows[0]["ancestor_list"] == "[none]" and rows[13]["ancestor_list"] == "[9]"
    assert [i for i, row in rows.items() if row["extant"] == "1"] == [16, 17, 18, 19]


def test_pruned_tree_gets_a_virtual_root_when_founders_survive_and_keeps_extant_ancestors(tmp_path):
    # Founders 0 and 1 both survive; 2 is extant (an old champion) and also a parent of 4.
    parents = np.array([-1, -1, 0, 1, 2, 3, 2])
    generation = np.array([0, 0, 1, 1, 2, 2, 2])
    tree = lineage.pruned_phylogeny(parents, generation, [2, 4, 5, 6])
    assert tree.virtual_root == 7 and tree.leaf_count == 4
    path = tmp_path / "tree.nwk"
    lineage.write_newick(tree, path)
    read = _read_newick(path)
    assert read.root.name == "root" and read.count_terminals() == 4
    assert sorted(clade.name for clade in read.get_terminals()) == ["id2", "id4", "id5", "id6"]
    assert read.distance(read.find_any(name="id2"), read.find_any(name="id4")) == 1


def test_pruned_tree_of_a_100000_generation_line_is_written_without_recursion(tmp_path):
    count = 100_000
    parents = np.arange(-1, count - 1)
    parents[count - 1] = count - 3  # the last two are siblings
    tree = lineage.pruned_phylogeny(parents, np.arange(count), [count - 2, count - 1])
    text = lineage.newick_text(tree)
    assert text == f"(id{count - 2}:1,id{count - 1}:2)id{count - 3};"  # born generations 99998, 99999
    assert len(tree.ids) == count
