"""Develop batches of genomes into controller parameters (the kernels behind evosandbox.genomes).

Every kernel takes raw genes ``genomes (P, G)`` and a fixed per-gene scale ``gene_scales (G,)``
(genes are standardised: the encoding, not the gene, carries the natural size of each
parameter, so one mutation step size suits every gene), and writes the five
``ControllerParams`` arrays in place, one individual per ``prange`` iteration. Arithmetic is
float64 inside, float32 on output. Neuron order everywhere: inputs, hidden, outputs.

Connection classes (index into ``class_scales``): 0 input->hidden, 1 hidden->hidden,
2 hidden->output, 3 hidden bias, 4 output bias.
"""

import math

import numpy as np

from evosandbox.kernels._jit import jit, prange

# CPPN node k uses activation k % 4 (a fixed, documented cycle, so the genome is only weights).
ACTIVATION_SINE = 0
ACTIVATION_GAUSSIAN = 1
ACTIVATION_TANH = 2
ACTIVATION_ABS = 3
ACTIVATION_COUNT = 4
ACTIVATION_NAMES = ("sine", "gaussian", "tanh", "abs")

CLASS_INPUT = 0
CLASS_RECURRENT = 1
CLASS_OUTPUT = 2
CLASS_HIDDEN_BIAS = 3
CLASS_OUTPUT_BIAS = 4


@jit
def smooth_sine(value):
    """Return sin(value) to within 0.001 by a C1 piecewise-parabolic curve (no libm call)."""
    turns = value * (0.5 / math.pi)
    angle = (turns - math.floor(turns + 0.5)) * (2.0 * math.pi)  # in [-pi, pi)
    estimate = (4.0 / math.pi) * angle - (4.0 / (math.pi * math.pi)) * angle * abs(angle)
    return estimate + 0.225 * (estimate * abs(estimate) - estimate)


@jit
def smooth_gaussian(value):
    """Return a bell curve close to exp(-value**2): (1 + value**2 / 16) ** -16."""
    base = 1.0 + value * value * 0.0625
    base *= base
    base *= base
    base *= base
    base *= base
    return 1.0 / base


@jit
def smooth_tanh(value):
    """Return a C1 tanh-like squashing: a Pade form inside [-3, 3] that reaches +-1 at the ends."""
    clamped = min(max(value, -3.0), 3.0)  # branch-free, so loops over it vectorise
    square = clamped * clamped
    return clamped * (27.0 + square) / (27.0 + 9.0 * square)


@jit
def activate(kind, value):
    """Apply CPPN activation number ``kind`` (sine, gaussian, tanh, abs) to ``value``."""
    if kind == ACTIVATION_SINE:
        return smooth_sine(value)
    if kind == ACTIVATION_GAUSSIAN:
        return smooth_gaussian(value)
    if kind == ACTIVATION_TANH:
        return smooth_tanh(value)
    return abs(value)


# ---------------------------------------------------------------------------------------------
# direct: one gene per parameter, in the order input, hidden bias, recurrent, output, output bias
# ---------------------------------------------------------------------------------------------


@jit
def scaled_copy(genome, gene_scales, first, target):
    """Write ``genome[first + k] * gene_scales[first + k]`` into ``target[k]``; return the next gene."""
    for k in range(target.shape[0]):
        target[k] = genome[first + k] * gene_scales[first + k]
    return first + target.shape[0]


@jit
def _flat_weights(input_weights, recurrent_weights, output_weights):
    """Return the three weight matrices of a batch as (P, rows * columns) views."""
    population = input_weights.shape[0]
    return (
        input_weights.reshape(population, input_weights.shape[1] * input_weights.shape[2]),
        recurrent_weights.reshape(population, recurrent_weights.shape[1] * recurrent_weights.shape[2]),
        output_weights.reshape(population, output_weights.shape[1] * output_weights.shape[2]),
    )


@jit
def _develop_direct_one(genome, gene_scales, inputs, hidden_bias, recurrent, outputs, output_bias):
    """Copy one genome's scaled genes into its controller's (flattened) arrays."""
    gene = scaled_copy(genome, gene_scales, 0, inputs)
    gene = scaled_copy(genome, gene_scales, gene, hidden_bias)
    gene = scaled_copy(genome, gene_scales, gene, recurrent)
    gene = scaled_copy(genome, gene_scales, gene, outputs)
    scaled_copy(genome, gene_scales, gene, output_bias)


@jit(parallel=True)
def develop_direct(genomes, gene_scales, input_weights, hidden_bias, recurrent_weights, output_weights, output_bias):
    """Copy scaled genes into the controller arrays, one gene per weight and bias."""
    # Each array is filled as one flat run of genes (the genome lists them in C order), which
    # vectorises; the product is taken in float64 (the scales' type) and rounded once.
    inputs, recurrent, outputs = _flat_weights(input_weights, recurrent_weights, output_weights)
    for p in prange(input_weights.shape[0]):
        _develop_direct_one(
            genomes[p], gene_scales, inputs[p], hidden_bias[p], recurrent[p], outputs[p], output_bias[p]
        )


@jit
def develop_direct_serial(
    genomes, gene_scales, input_weights, hidden_bias, recurrent_weights, output_weights, output_bias
):
    """``develop_direct`` on one thread, for small batches: the same values, without a parallel
    region (on a busy machine, waiting for its second thread costs more than the copy)."""
    inputs, recurrent, outputs = _flat_weights(input_weights, recurrent_weights, output_weights)
    for p in range(input_weights.shape[0]):
        _develop_direct_one(
            genomes[p], gene_scales, inputs[p], hidden_bias[p], recurrent[p], outputs[p], output_bias[p]
        )


# ---------------------------------------------------------------------------------------------
# cppn: a compositional pattern-producing network queried once per connection
# ---------------------------------------------------------------------------------------------
# Genome layout (K1 feature nodes, K2 pair nodes, D = 4 coordinates, C connection classes):
#   feature layer   K1 x (D + 1)         f_k(n)   = act_k(w . coord(n) + b)
#   source side     K2 x (K1 + D)        A_k(n)   = w . [f(n), coord(n)]
#   target side     K2 x (K1 + D)        B_k(n)   = w . [f(n), coord(n)]
#   pair bias       K2
#   heads           C x (K2 + 1)         o_c(i,j) = tanh(v_c . act(A(i) + B(j) + b) + v_c0)
# The first two layers see one neuron at a time, so they are computed once per neuron; only
# the pair layer and the head run per connection (which keeps 20,000 queries cheap).


@jit
def cppn_node_terms(genes, coordinates, feature_nodes, pair_nodes):
    """Return each neuron's source-side terms (neurons, K2) and target-side terms (K2, neurons)."""
    neurons, dimensions = coordinates.shape
    features = np.empty(feature_nodes)
    source = np.empty((neurons, pair_nodes))
    target = np.empty((pair_nodes, neurons))
    side = pair_nodes * (feature_nodes + dimensions)
    source_offset = feature_nodes * (dimensions + 1)
    target_offset = source_offset + side
    bias_offset = target_offset + side
    for n in range(neurons):
        for k in range(feature_nodes):
            row = k * (dimensions + 1)
            value = genes[row + dimensions]
            for d in range(dimensions):
                value += genes[row + d] * coordinates[n, d]
            features[k] = activate(k % ACTIVATION_COUNT, value)
        for k in range(pair_nodes):
            row = k * (feature_nodes + dimensions)
            source_value = 0.0
            target_value = genes[bias_offset + k]
            for m in range(feature_nodes):
                source_value += genes[source_offset + row + m] * features[m]
                target_value += genes[target_offset + row + m] * features[m]
            for d in range(dimensions):
                source_value += genes[source_offset + row + feature_nodes + d] * coordinates[n, d]
                target_value += genes[target_offset + row + feature_nodes + d] * coordinates[n, d]
            source[n, k] = source_value
            target[k, n] = target_value
    return source, target


@jit
def express(output, threshold, scale):
    """Turn a CPPN output in [-1, 1] into a weight under the expression threshold."""
    # HyperNEAT's expression threshold (Stanley et al. 2009), shifted so the weight grows from
    # zero at the threshold: the map stays continuous and small gene steps stay small.
    magnitude = abs(output)
    if magnitude <= threshold:
        return 0.0
    weight = scale * (magnitude - threshold) / (1.0 - threshold)
    return weight if output > 0.0 else -weight


@jit
def cppn_block(genes, head, source, first_source, sources, target, first_target, targets, threshold, scale, out):
    """Write the CPPN head at ``head`` for every (source, target) pair of a block into ``out``."""
    pair_nodes = source.shape[1]
    totals = np.empty(targets)
    bias = genes[head + pair_nodes]
    for i in range(sources):
        for j in range(targets):
            totals[j] = bias
        for k in range(pair_nodes):
            term = source[first_source + i, k]
            weight = genes[head + k]
            kind = k % ACTIVATION_COUNT
            # One activation per inner loop, so the loop over targets vectorises.
            if kind == ACTIVATION_SINE:
                for j in range(targets):
                    totals[j] += weight * smooth_sine(term + target[k, first_target + j])
            elif kind == ACTIVATION_GAUSSIAN:
                for j in range(targets):
                    totals[j] += weight * smooth_gaussian(term + target[k, first_target + j])
            elif kind == ACTIVATION_TANH:
                for j in range(targets):
                    totals[j] += weight * smooth_tanh(term + target[k, first_target + j])
            else:
                for j in range(targets):
                    totals[j] += weight * abs(term + target[k, first_target + j])
        for j in range(targets):
            out[i, j] = express(smooth_tanh(totals[j]), threshold, scale)


@jit
def cppn_connection(genes, head, source_terms, target_terms, threshold, scale):
    """Query the CPPN head at ``head`` for one connection (the scalar form of cppn_block)."""
    pair_nodes = source_terms.shape[0]
    value = genes[head + pair_nodes]
    for k in range(pair_nodes):
        value += genes[head + k] * activate(k % ACTIVATION_COUNT, source_terms[k] + target_terms[k])
    return express(smooth_tanh(value), threshold, scale)


@jit(parallel=True)
def develop_cppn(
    genomes,
    gene_scales,
    coordinates,
    feature_nodes,
    pair_nodes,
    threshold,
    class_scales,
    input_weights,
    hidden_bias,
    recurrent_weights,
    output_weights,
    output_bias,
):
    """Develop CPPN genomes: query the network once per connection of every controller.

    ``coordinates`` holds one row per neuron (inputs, hidden, outputs) and a last row for the
    origin, the source that biases are queried from.
    """
    population, inputs, hidden = input_weights.shape
    outputs = output_weights.shape[2]
    recurrent = recurrent_weights.shape[1] > 0
    neurons, dimensions = coordinates.shape
    origin = neurons - 1
    first_hidden = inputs
    first_output = inputs + hidden
    head_size = pair_nodes + 1
    heads_offset = feature_nodes * (dimensions + 1) + 2 * pair_nodes * (feature_nodes + dimensions) + pair_nodes
    for p in prange(population):
        genes = np.empty(genomes.shape[1])
        for g in range(genomes.shape[1]):
            genes[g] = np.float64(genomes[p, g]) * gene_scales[g]
        source, target = cppn_node_terms(genes, coordinates, feature_nodes, pair_nodes)
        head = heads_offset
        cppn_block(
            genes,
            head,
            source,
            0,
            inputs,
            target,
            first_hidden,
            hidden,
            threshold,
            class_scales[CLASS_INPUT],
            input_weights[p],
        )
        head += head_size
        if recurrent:
            cppn_block(
                genes,
                head,
                source,
                first_hidden,
                hidden,
                target,
                first_hidden,
                hidden,
                threshold,
                class_scales[CLASS_RECURRENT],
                recurrent_weights[p],
            )
            head += head_size
        cppn_block(
            genes,
            head,
            source,
            first_hidden,
            hidden,
            target,
            first_output,
            outputs,
            threshold,
            class_scales[CLASS_OUTPUT],
            output_weights[p],
        )
        head += head_size
        cppn_block(
            genes,
            head,
            source,
            origin,
            1,
            target,
            first_hidden,
            hidden,
            threshold,
            class_scales[CLASS_HIDDEN_BIAS],
            hidden_bias[p].reshape((1, hidden)),
        )
        head += head_size
        cppn_block(
            genes,
            head,
            source,
            origin,
            1,
            target,
            first_output,
            outputs,
            threshold,
            class_scales[CLASS_OUTPUT_BIAS],
            output_bias[p].reshape((1, outputs)),
        )


# ---------------------------------------------------------------------------------------------
# developmental: cells grow a state vector under a local rule, weights are read from state pairs
# ---------------------------------------------------------------------------------------------
# Genome layout (S state size, F positional features):
#   seed map        S x F        s0(n) = tanh(E . phi(n))   (smooth_tanh throughout)
#   self rule       S x S        s(n) <- (1 - rate) s(n) + rate tanh(W_self s(n) + W_nbr m(n) + b)
#   neighbour rule  S x S        m(n) = mean of the neighbours' states
#   rule bias       S
#   read-out        S x S per weight class (input, [recurrent], output): w_ij = s_i . R s_j
#   bias read-out   S + 1 for hidden biases, S + 1 for output biases: b_j = u . s_j + u0


@jit
def grow_states(genes, features, neighbour_offsets, neighbour_indices, state_size, steps, rate):
    """Seed every cell from its position and run the local growth rule; return states (S, cells).

    ``features`` is (F, cells): one column of positional features per cell.
    """
    feature_count, cells = features.shape
    states = np.zeros((state_size, cells))
    for a in range(state_size):
        for f in range(feature_count):
            weight = genes[a * feature_count + f]
            for n in range(cells):
                states[a, n] += weight * features[f, n]
        for n in range(cells):
            states[a, n] = smooth_tanh(states[a, n])
    self_offset = state_size * feature_count
    neighbour_offset = self_offset + state_size * state_size
    bias_offset = neighbour_offset + state_size * state_size
    messages = np.empty((state_size, cells))
    update = np.empty(cells)
    following = np.empty((state_size, cells))
    for _ in range(steps):
        for n in range(cells):
            start = neighbour_offsets[n]
            stop = neighbour_offsets[n + 1]
            share = 1.0 / (stop - start) if stop > start else 0.0
            for a in range(state_size):
                total = 0.0
                for e in range(start, stop):
                    total += states[a, neighbour_indices[e]]
                messages[a, n] = total * share
        for a in range(state_size):
            bias = genes[bias_offset + a]
            for n in range(cells):
                update[n] = bias
            for b in range(state_size):
                self_weight = genes[self_offset + a * state_size + b]
                neighbour_weight = genes[neighbour_offset + a * state_size + b]
                for n in range(cells):
                    update[n] += self_weight * states[b, n] + neighbour_weight * messages[b, n]
            for n in range(cells):
                following[a, n] = (1.0 - rate) * states[a, n] + rate * smooth_tanh(update[n])
        states, following = following, states
    return states


@jit
def read_out_block(genes, offset, states, first_source, sources, first_target, targets, scale, out):
    """Write ``out[i, j] = scale * s_i . R s_j`` for the read-out matrix R at ``offset``."""
    state_size = states.shape[0]
    projected = np.zeros((state_size, targets))
    for a in range(state_size):
        for b in range(state_size):
            weight = genes[offset + a * state_size + b]
            for j in range(targets):
                projected[a, j] += weight * states[b, first_target + j]
    totals = np.empty(targets)
    for i in range(sources):
        for j in range(targets):
            totals[j] = 0.0
        for a in range(state_size):
            value = states[a, first_source + i]
            for j in range(targets):
                totals[j] += value * projected[a, j]
        for j in range(targets):
            out[i, j] = scale * totals[j]


@jit
def read_out_bias(genes, offset, states, first, count, scale, out):
    """Write ``out[j] = scale * (u . s_j + u0)`` for the bias read-out vector at ``offset``."""
    state_size = states.shape[0]
    for j in range(count):
        value = genes[offset + state_size]
        for a in range(state_size):
            value += genes[offset + a] * states[a, first + j]
        out[j] = scale * value


@jit(parallel=True)
def develop_developmental(
    genomes,
    gene_scales,
    features,
    neighbour_offsets,
    neighbour_indices,
    state_size,
    steps,
    rate,
    class_scales,
    input_weights,
    hidden_bias,
    recurrent_weights,
    output_weights,
    output_bias,
):
    """Develop growth-program genomes: grow cell states, then read weights from state pairs."""
    population, inputs, hidden = input_weights.shape
    outputs = output_weights.shape[2]
    recurrent = recurrent_weights.shape[1] > 0
    feature_count = features.shape[0]
    block = state_size * state_size
    first_readout = state_size * feature_count + 2 * block + state_size
    for p in prange(population):
        genes = np.empty(genomes.shape[1])
        for g in range(genomes.shape[1]):
            genes[g] = np.float64(genomes[p, g]) * gene_scales[g]
        states = grow_states(genes, features, neighbour_offsets, neighbour_indices, state_size, steps, rate)
        offset = first_readout
        read_out_block(genes, offset, states, 0, inputs, inputs, hidden, class_scales[CLASS_INPUT], input_weights[p])
        offset += block
        if recurrent:
            read_out_block(
                genes,
                offset,
                states,
                inputs,
                hidden,
                inputs,
                hidden,
                class_scales[CLASS_RECURRENT],
                recurrent_weights[p],
            )
            offset += block
        read_out_block(
            genes,
            offset,
            states,
            inputs,
            hidden,
            inputs + hidden,
            outputs,
            class_scales[CLASS_OUTPUT],
            output_weights[p],
        )
        offset += block
        read_out_bias(genes, offset, states, inputs, hidden, class_scales[CLASS_HIDDEN_BIAS], hidden_bias[p])
        offset += state_size + 1
        read_out_bias(genes, offset, states, inputs + hidden, outputs, class_scales[CLASS_OUTPUT_BIAS], output_bias[p])


# ---------------------------------------------------------------------------------------------
# subspace: the controller's direct genes are a fixed random linear map of the genome
# ---------------------------------------------------------------------------------------------
# Li et al. (2018), "Measuring the intrinsic dimension of objective landscapes": theta = P z,
# with P a fixed (parameters x dimensions) Gaussian matrix of entries N(0, 1 / dimensions), so
# a standard-normal genome z gives standard-normal direct genes; the direct gene scales follow.


@jit(parallel=True)
def develop_subspace(
    genomes, projection, gene_scales, input_weights, hidden_bias, recurrent_weights, output_weights, output_bias
):
    """Develop subspace genomes: direct genes = projection @ genome, then the direct layout."""
    population = input_weights.shape[0]
    parameters, dimensions = projection.shape
    inputs = input_weights.reshape(population, input_weights.shape[1] * input_weights.shape[2])
    recurrent = recurrent_weights.reshape(population, recurrent_weights.shape[1] * recurrent_weights.shape[2])
    outputs = output_weights.reshape(population, output_weights.shape[1] * output_weights.shape[2])
    for p in prange(population):
        genome = np.empty(dimensions)
        for d in range(dimensions):
            genome[d] = genomes[p, d]
        genes = np.empty(parameters)
        for k in range(parameters):
            total = 0.0
            row = projection[k]
            for d in range(dimensions):
                total += row[d] * genome[d]
            genes[k] = total
        gene = scaled_copy(genes, gene_scales, 0, inputs[p])
        gene = scaled_copy(genes, gene_scales, gene, hidden_bias[p])
        gene = scaled_copy(genes, gene_scales, gene, recurrent[p])
        gene = scaled_copy(genes, gene_scales, gene, outputs[p])
        scaled_copy(genes, gene_scales, gene, output_bias[p])


# ---------------------------------------------------------------------------------------------
# factored: the view's input weights as a sum of separable terms (a CP tensor decomposition)
# ---------------------------------------------------------------------------------------------
# The input weights of the view form a 4-way tensor W[i, j, c, k] (view row i, view column j,
# observation channel c, hidden unit k). The genome holds ``rank`` terms, each four profiles
# (forward f, lateral l, channel h, hidden m), and W[i, j, c, k] = sum_r f_r[i] l_r[j] h_r[c] m_r[k]
# (Hitchcock 1927; Kolda and Bader 2009). Each term is one "feature" of the view, e.g. "red on
# the left", written on one plane per channel (Pugh and Stanley 2013) and fed to every hidden unit
# with its own loading. The extra inputs (last action, last reward) have one gene per weight.
# The rest, in gene order (the narrow presets shrink it; genomes/factored.toml's layout is the
# default of every knob):
# - hidden biases: one gene each (FACTORED_DIRECT), one gene for all (FACTORED_SHARED) or none;
# - recurrent weights: a rank-``recurrent_rank`` product U @ V (rank 0: none) plus a diagonal
#   (self-connections) of one gene each, one shared gene or none;
# - output weights: one gene each (``output_rank`` 0) or a rank-``output_rank`` product P @ Q;
# - output biases: one gene each.

FACTORED_NONE = 0
FACTORED_SHARED = 1
FACTORED_DIRECT = 2
"""How a group of the factored encoding's parameters is grown: absent (zero), one gene for all, one gene each."""


@jit
def _low_rank_product(genes, first, rank, matrix):
    """Fill ``matrix`` (n, m) with L @ R, L (n, rank) and R (rank, m) read from ``genes[first:]``; return the next gene."""
    rows, columns = matrix.shape
    right = first + rows * rank
    for j in range(rows):
        for k in range(columns):
            total = 0.0
            for t in range(rank):
                total += genes[first + j * rank + t] * genes[right + t * columns + k]
            matrix[j, k] = total
    return right + rank * columns


@jit
def _develop_factored_one(
    genes,
    view,
    channels,
    rank,
    recurrent_rank,
    bias_mode,
    diagonal_mode,
    output_rank,
    inputs,
    hidden_bias,
    recurrent,
    outputs,
    output_bias,
):
    """Develop one genome's scaled genes into its controller's arrays (inputs is (I, H), the rest flat or 2-D)."""
    hidden = hidden_bias.shape[0]
    term = 2 * view + channels + hidden
    for row in range(inputs.shape[0]):
        for k in range(hidden):
            inputs[row, k] = 0.0
    for r in range(rank):
        first = r * term
        for i in range(view):
            forward = genes[first + i]
            for j in range(view):
                spatial = forward * genes[first + view + j]
                for c in range(channels):
                    weight = spatial * genes[first + 2 * view + c]
                    row = (i * view + j) * channels + c
                    for k in range(hidden):
                        inputs[row, k] += weight * genes[first + 2 * view + channels + k]
    gene = rank * term
    for row in range(view * view * channels, inputs.shape[0]):
        for k in range(hidden):
            inputs[row, k] = genes[gene]
            gene += 1
    for k in range(hidden):
        if bias_mode == FACTORED_DIRECT:
            hidden_bias[k] = genes[gene + k]
        elif bias_mode == FACTORED_SHARED:
            hidden_bias[k] = genes[gene]
        else:
            hidden_bias[k] = 0.0
    gene += hidden if bias_mode == FACTORED_DIRECT else (1 if bias_mode == FACTORED_SHARED else 0)
    if recurrent.shape[0] > 0:
        gene = _low_rank_product(genes, gene, recurrent_rank, recurrent)
        if diagonal_mode == FACTORED_DIRECT:
            for k in range(hidden):
                recurrent[k, k] += genes[gene + k]
            gene += hidden
        elif diagonal_mode == FACTORED_SHARED:
            for k in range(hidden):
                recurrent[k, k] += genes[gene]
            gene += 1
    if output_rank == 0:
        for k in range(outputs.shape[0]):
            for a in range(outputs.shape[1]):
                outputs[k, a] = genes[gene]
                gene += 1
    else:
        gene = _low_rank_product(genes, gene, output_rank, outputs)
    for a in range(output_bias.shape[0]):
        output_bias[a] = genes[gene]
        gene += 1


@jit(parallel=True)
def develop_factored(
    genomes,
    gene_scales,
    view,
    channels,
    rank,
    recurrent_rank,
    bias_mode,
    diagonal_mode,
    output_rank,
    input_weights,
    hidden_bias,
    recurrent_weights,
    output_weights,
    output_bias,
):
    """Develop factored genomes: the view's input weights from ``rank`` separable terms (see above)."""
    population, genome_length = genomes.shape
    hidden = hidden_bias.shape[1]
    for p in prange(population):
        genes = np.empty(genome_length)
        for g in range(genome_length):
            genes[g] = genomes[p, g] * gene_scales[g]
        inputs = np.empty((input_weights.shape[1], hidden))
        recurrent = np.empty((recurrent_weights.shape[1], recurrent_weights.shape[2]))
        outputs = np.empty((hidden, output_weights.shape[2]))
        biases = np.empty(hidden)
        action_biases = np.empty(output_bias.shape[1])
        _develop_factored_one(
            genes,
            view,
            channels,
            rank,
            recurrent_rank,
            bias_mode,
            diagonal_mode,
            output_rank,
            inputs,
            biases,
            recurrent,
            outputs,
            action_biases,
        )
        input_weights[p] = inputs
        hidden_bias[p] = biases
        recurrent_weights[p] = recurrent
        output_weights[p] = outputs
        output_bias[p] = action_biases


# ---------------------------------------------------------------------------------------------
# separable substrates (cppn and developmental): every weight painted from points on four axes
# ---------------------------------------------------------------------------------------------
# The substrate is the view's three axes and the hidden sheet as separate point sets: forward
# (V points), lateral (V), channel (C) and hidden (H), in that order (and, for the growth program,
# the A action cells after them). Each point gets a row of "head" values (points, heads): head r < R
# is the factor of term r on the point's own axis, so the input weights are the CP sum
#   W[(i V + j) C + c, k] = scale * sum_r head[i, r] head[V + j, r] head[2V + c, r] head[2V + C + k, r]
# (the factored encoding's separable features, painted instead of listed).


@jit
def scaled_genes(genome, gene_scales):
    """Return one genome's genes times their scales, in float64."""
    genes = np.empty(genome.shape[0])
    for g in range(genome.shape[0]):
        genes[g] = np.float64(genome[g]) * gene_scales[g]
    return genes


@jit
def affine(genes, row, values, count):
    """Return ``genes[row + count] + sum_k genes[row + k] * values[k]`` (a node or read-out with its bias last)."""
    total = genes[row + count]
    for k in range(count):
        total += genes[row + k] * values[k]
    return total


@jit
def cp_input_weights(heads, view, channels, terms, scale, out):
    """Write the view rows of the input weights ``out`` (I, H) as the CP sum of the first ``terms`` heads."""
    hidden = out.shape[1]
    lateral_first = view
    channel_first = 2 * view
    hidden_first = 2 * view + channels
    for row in range(view * view * channels):
        for k in range(hidden):
            out[row, k] = 0.0
    for r in range(terms):
        for i in range(view):
            forward = scale * heads[i, r]
            for j in range(view):
                spatial = forward * heads[lateral_first + j, r]
                for c in range(channels):
                    weight = spatial * heads[channel_first + c, r]
                    row = (i * view + j) * channels + c
                    for k in range(hidden):
                        out[row, k] += weight * heads[hidden_first + k, r]


@jit
def copy_extra_inputs(genes, first, view_inputs, out):
    """Write one gene per weight of the extra (non-view) inputs into the rows after ``view_inputs``; return the next gene."""
    gene = first
    for row in range(view_inputs, out.shape[0]):
        for k in range(out.shape[1]):
            out[row, k] = genes[gene]
            gene += 1
    return gene


# cppn, substrate "separable": one CPPN queried once per point (not per connection).
# Genome layout (K1 first-layer nodes, K2 second-layer nodes, D inputs, heads R + 2Q + A + 1):
#   first layer    K1 x D            h1_k(n) = act_k(w . z(n))      z = (u, v, axis one-hot, 1[, channel one-hot])
#   second layer   K2 x (K1 + 1)     h2_m(n) = act_m(w . [h1(n), 1])
#   heads          heads x (K1 + K2 + 1)      o_h(n) = v_h . [h1(n), h2(n), 1]   (linear)
#   output biases  A                 one gene each
#   extra inputs   (I - V V C) x H   one gene each
# Heads R.. on the hidden points: recurrent factors U (Q), V (Q), the A output weights, the hidden bias;
# W_rec = scale U V^T, W_out[k, a] = scale o_{R+2Q+a}(k), b_k = scale o_last(k).


@jit
def separable_cppn_heads(genes, inputs, first_nodes, second_nodes, head_count):
    """Return the CPPN's head values (points, heads) at every substrate point (rows of ``inputs``)."""
    points, dimensions = inputs.shape
    nodes = np.empty(first_nodes + second_nodes)  # both layers' values at one point
    heads = np.empty((points, head_count))
    second_offset = first_nodes * dimensions
    heads_offset = second_offset + second_nodes * (first_nodes + 1)
    width = first_nodes + second_nodes + 1
    for n in range(points):
        for k in range(first_nodes):
            value = 0.0
            for d in range(dimensions):
                value += genes[k * dimensions + d] * inputs[n, d]
            nodes[k] = activate(k % ACTIVATION_COUNT, value)
        for m in range(second_nodes):
            value = affine(genes, second_offset + m * (first_nodes + 1), nodes, first_nodes)
            nodes[first_nodes + m] = activate(m % ACTIVATION_COUNT, value)
        for h in range(head_count):
            heads[n, h] = affine(genes, heads_offset + h * width, nodes, width - 1)
    return heads


@jit(parallel=True)
def develop_separable_cppn(
    genomes,
    gene_scales,
    inputs,
    view,
    channels,
    terms,
    recurrent_rank,
    first_nodes,
    second_nodes,
    weight_scales,
    input_weights,
    hidden_bias,
    recurrent_weights,
    output_weights,
    output_bias,
):
    """Develop separable-CPPN genomes: paint every point's heads, then assemble the CP input weights and the rest.

    ``weight_scales`` is (input term, recurrent product, output, bias), the sizes the heads are multiplied by.
    """
    population, genome_length = genomes.shape
    hidden = hidden_bias.shape[1]
    outputs = output_bias.shape[1]
    recurrent = recurrent_weights.shape[1] > 0
    rank = recurrent_rank if recurrent else 0
    head_count = terms + 2 * rank + outputs + 1
    hidden_first = 2 * view + channels
    output_head = terms + 2 * rank
    bias_first = (
        first_nodes * inputs.shape[1] + second_nodes * (first_nodes + 1) + head_count * (first_nodes + second_nodes + 1)
    )
    for p in prange(population):
        genes = scaled_genes(genomes[p], gene_scales)
        heads = separable_cppn_heads(genes, inputs, first_nodes, second_nodes, head_count)
        weights = np.empty((input_weights.shape[1], hidden))
        cp_input_weights(heads, view, channels, terms, weight_scales[0], weights)
        gene = bias_first
        for a in range(outputs):
            output_bias[p, a] = weight_scales[3] * genes[gene]
            gene += 1
        copy_extra_inputs(genes, gene, view * view * channels, weights)
        input_weights[p] = weights
        for k in range(hidden):
            point = hidden_first + k
            hidden_bias[p, k] = weight_scales[3] * heads[point, head_count - 1]
            for a in range(outputs):
                output_weights[p, k, a] = weight_scales[2] * heads[point, output_head + a]
            if recurrent:
                for j in range(hidden):
                    total = 0.0
                    for q in range(rank):
                        total += heads[point, terms + q] * heads[hidden_first + j, terms + rank + q]
                    recurrent_weights[p, k, j] = weight_scales[1] * total


# developmental, substrate "separable": cells on the four axes and the actions grow states
# (grow_states, the same local rule); the CP factors and the other weights are read out.
# Genome layout (S state size, F features, R terms):
#   seed map, self rule, neighbour rule, rule bias   as the developmental encoding (grow_states)
#   factor read-outs   4 x R x (S + 1)   head r on axis a at cell n: P[a, r] . [s(n), 1]
#   recurrent          S x S             W_rec[j, k] = scale s_j . R s_k   (hidden cells; absent feedforward)
#   output             S x S             W_out[k, a] = scale s_k . R s_a   (hidden and action cells)
#   biases             S + 1, S + 1      b = scale (u . s + u0), hidden then action cells
#   extra inputs       (I - V V C) x H   one gene each


@jit
def separable_factor_heads(genes, offset, states, axis_first, terms):
    """Return the factor heads (points, terms) of the four axes' cells: P[a, r] . [s(n), 1] for the cell's axis a."""
    state_size = states.shape[0]
    points = axis_first[4]
    heads = np.empty((points, terms))
    for a in range(4):
        for r in range(terms):
            row = offset + (a * terms + r) * (state_size + 1)
            for n in range(axis_first[a], axis_first[a + 1]):
                heads[n, r] = affine(genes, row, states[:, n], state_size)
    return heads


@jit(parallel=True)
def develop_separable_developmental(
    genomes,
    gene_scales,
    features,
    neighbour_offsets,
    neighbour_indices,
    axis_first,
    state_size,
    steps,
    rate,
    view,
    channels,
    terms,
    weight_scales,
    input_weights,
    hidden_bias,
    recurrent_weights,
    output_weights,
    output_bias,
):
    """Develop separable growth-program genomes: grow the axes' cells, read the CP factors and weights out.

    ``axis_first`` (6,) holds the first cell of forward, lateral, channel, hidden, action and the end;
    ``weight_scales`` is (input term, recurrent, output, bias).
    """
    population, genome_length = genomes.shape
    hidden = hidden_bias.shape[1]
    outputs = output_bias.shape[1]
    recurrent = recurrent_weights.shape[1] > 0
    block = state_size * state_size
    feature_count = features.shape[0]
    first_readout = state_size * feature_count + 2 * block + state_size
    first_hidden = axis_first[3]
    first_action = axis_first[4]
    for p in prange(population):
        genes = scaled_genes(genomes[p], gene_scales)
        states = grow_states(genes, features, neighbour_offsets, neighbour_indices, state_size, steps, rate)
        heads = separable_factor_heads(genes, first_readout, states, axis_first, terms)
        weights = np.empty((input_weights.shape[1], hidden))
        cp_input_weights(heads, view, channels, terms, weight_scales[0], weights)
        offset = first_readout + 4 * terms * (state_size + 1)
        if recurrent:
            read_out_block(
                genes,
                offset,
                states,
                first_hidden,
                hidden,
                first_hidden,
                hidden,
                weight_scales[1],
                recurrent_weights[p],
            )
            offset += block
        read_out_block(
            genes, offset, states, first_hidden, hidden, first_action, outputs, weight_scales[2], output_weights[p]
        )
        offset += block
        read_out_bias(genes, offset, states, first_hidden, hidden, weight_scales[3], hidden_bias[p])
        offset += state_size + 1
        read_out_bias(genes, offset, states, first_action, outputs, weight_scales[3], output_bias[p])
        offset += state_size + 1
        copy_extra_inputs(genes, offset, view * view * channels, weights)
        input_weights[p] = weights
