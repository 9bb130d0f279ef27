"""Training through RRAM cells: the state of every crossbar-held matrix and its two hooks.

:class:`CrossbarDevice` holds, per weight layer, the normalised conductance of
each cell (:mod:`neurosim.config.device` has the model and its formulas) and keeps
``net.weights`` equal to what the cells hold. The trainer calls it in two places:

- :meth:`CrossbarDevice.attach` gives each dense layer of the network a reader:
  its MVM (:meth:`CrossbarDevice.mvm`) read through the DAC (``crossbar.input_bits`` per input, full scale 1), the cells
  (with read noise, one draw per cell per batch), and an ADC of
  ``crossbar.adc_bits`` on each array's column sums (``crossbar.rows`` inputs,
  full scale ``adc_full_scale · rows · w_max``); bias and activation are digital;
  and a transposed reader for BP's error ``δ W`` (:meth:`CrossbarDevice.mvm_transposed`):
  the same DAC, noise and ADC path with ``δ`` scaled per sample to its largest magnitude
  and ``crossbar.cols`` columns per array partial sum;
- :meth:`CrossbarDevice.write` after the optimizer step: the change the
  optimizer asked for is sent as pulses (:func:`~neurosim.kernels.device.pulse_update`)
  and ``net.weights`` becomes what the cells reached. With plain SGD the hook runs
  each layer's step itself and returns with the pulses still running on the helper
  thread: a layer's next read waits for its own, :meth:`CrossbarDevice.settle` for all
  (the trainer settles before the alignment measures and at each epoch's end).

The initial weights are written exactly (write-verify, as MLP+NeuroSim does);
fixed feedback matrices held in crossbars (FA's ``B``, and the DFA family's when
``chip.feedback_storage`` is crossbar) are programmed once to the nearest pulse
level (:meth:`program_feedback`); stuck faults apply to both. Their error-phase reads
take the path of BP's ``δ W`` (``device.error_read: cells``; ``exact``: float): the signal
scaled per sample and DAC-quantised, read noise, an ADC per array; FA's ``δ B`` is a
transposed read, a direct projection ``signal · B_lᵀ`` a read the forward way.

Costs: :meth:`stats` gives per layer the pulses, cells written and row-serial pulse slots
(write latency) per step, run means, and the distribution of pulses per cell (endurance).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from neurosim.config.hw import HwConfig
from neurosim.kernels.device import (block_mvm, block_mvm_transposed, block_weights, dac_quantise, plain_mvm, pulse_key, pulse_slots,
                                     start_pulse_update)
from neurosim.kernels.helper import two_threads

from .cell_setting import CellSetting
from .device_curves import curve_inverse_np, curve_np, shape_from_label, symmetry_point
from .device_stats import LayerWriteStats, write_stats
from .network import Network

__all__ = ["CrossbarDevice", "LayerWriteStats", "shape_from_label", "curve_np", "curve_inverse_np", "symmetry_point"]

class _Layer:
    """Cells of one crossbar-held matrix."""

    def __init__(self, name: str, shape: tuple[int, int], sides: int, a_ltp, a_ltd, frozen, block_rows: int, w_max: float,
                 stream: int, transposed_blocks: bool):
        self.name = name
        #: This matrix's C2C stream number and how many pulse updates it has had (the key of the next one).
        self.stream = stream
        self.calls = 0
        #: Weight of G_max (reference mapping: ±w_max around the reference); a slice's share of it.
        self.w_max = w_max
        self.g = np.zeros((sides,) + shape, dtype=np.float64)
        self.a_ltp = a_ltp
        self.a_ltd = a_ltd
        self.frozen = frozen
        self.pulses = np.zeros((sides,) + shape, dtype=np.int32)  # int32: half the memory pulse_update streams through
        self.row_max = np.zeros((shape[1], 2), dtype=np.int64)
        self.w_eff = np.zeros(shape, dtype=np.float32)
        #: w_eff in the arrays' row blocks (kernels.device.block_weights, input-major if transposed_blocks), kept up to date.
        self.transposed_blocks, self.block_rows = transposed_blocks, block_rows
        self.w_blocks = block_weights(self.w_eff, block_rows, transposed_blocks)
        #: the same array indexed (block, output, input in block), as the pulse update writes it
        self.w_blocks_by_output = self.w_blocks.transpose(0, 2, 1) if transposed_blocks else self.w_blocks
        self.totals = np.zeros(4, dtype=np.int64)  # ltp, ltd, written, slots

    def set_weights(self, w: np.ndarray) -> None:
        """``w_eff`` and its blocks become ``w``."""
        self.w_eff[:] = w
        self.w_blocks[:] = block_weights(w, self.block_rows, self.transposed_blocks)


class CrossbarDevice:
    """Device state of every crossbar-held matrix of one training run (see module docstring)."""

    def __init__(self, hw: HwConfig, seed: np.random.SeedSequence, *, programmed: bool = True, quantised_reads: bool = True,
                 steps_per_epoch: int = 0, batch_size: int = 0):
        setting = CellSetting.of(hw)  # all this class reads of the hwconfig (the sweep's training key)
        self.dev = setting.device
        #: rows, cols, input_bits, adc_bits, cells_per_weight of the crossbar
        self.xbar = setting
        self.programmed = programmed
        #: Input-major weight blocks (kernels.device.block_mvm: faster reads, the same bits, for batches
        #: of two or more); batch 1 keeps the output-major ones its reads want.
        self.transposed_blocks = batch_size != 1
        self.quantised_reads = quantised_reads
        self.feedback_storage = setting.feedback_storage
        self.differential = self.dev.mapping == "differential"
        self.sides = 2 if self.differential else 1
        self.g0 = self.dev.conductance_min_s.value / (self.dev.conductance_max_s.value - self.dev.conductance_min_s.value)
        cell_ss, read_ss, c2c_ss = seed.spawn(3)
        self.cell_rng = np.random.default_rng(cell_ss)
        self.read_rng = np.random.default_rng(read_ss)
        #: Seed of the counter-based C2C streams (kernels.device_pulse.pulse_key).
        self.c2c_seed = c2c_ss.generate_state(1, dtype=np.uint64)[0]
        self._streams = 0
        self.layers: list[_Layer] = []
        #: Cells of the fixed feedback matrices held in crossbars (:meth:`program_feedback`), in programming order.
        self.feedback: list[_Layer] = []
        #: cells_per_weight > 1: per layer, the cells above the lowest-order one (``layers[i]``), in
        #: rising significance; slice k holds ``w_max · F^k / Σ_j F^j`` (F = device.significance).
        self.upper: list[list[_Layer]] = []
        self.slices = setting.cells_per_weight
        total = sum(self.dev.significance**k for k in range(self.slices))
        self.slice_w_max = [self.dev.weight_max * self.dev.significance**k / total for k in range(self.slices)]
        if self.slices == 1:
            self.slice_w_max = [self.dev.weight_max]
        #: Steps between two carries of the lower cells into the higher (0: never).
        self.carry_every = self.dev.carry_every_steps or steps_per_epoch
        self.steps = 0
        #: layer index -> (its cells, its update) started by :meth:`write` and not joined yet
        self._pending: dict[int, tuple] = {}
        #: Normalised conductance of the reference column (reference mapping): mid, or the symmetry point.
        self.g_ref = 0.5
        if self.dev.reference == "symmetry_point":  # mid where the curves have none (linear)
            point = symmetry_point(float(shape_from_label(self.dev.nl_ltp)), -float(shape_from_label(self.dev.nl_ltd)),
                                   self.dev.levels_ltp, self.dev.levels_ltd)
            self.g_ref = 0.5 if point is None else point

    # ----------------------------------------------------------------- programming

    def _cells(self, name: str, shape: tuple[int, int], w_max: float | None = None) -> _Layer:
        full = (self.sides,) + shape
        per_cell = self.dev.d2d > 0
        shapes = [np.zeros((1, 1, 1)), np.zeros((1, 1, 1))]
        for i, label in enumerate((self.dev.nl_ltp, self.dev.nl_ltd)):
            labels = label + self.dev.d2d * self.cell_rng.standard_normal(full) if per_cell else np.full((1, 1, 1), label)
            shapes[i] = shape_from_label(labels) * (1.0 if i == 0 else -1.0)
        needs_frozen = self.dev.endurance_pulses is not None or self.dev.stuck_at_min_fraction > 0 or self.dev.stuck_at_max_fraction > 0
        frozen = np.zeros(full if needs_frozen else (1, 1, 1), dtype=np.bool_)
        self._streams += 1
        return _Layer(name, shape, self.sides, shapes[0], shapes[1], frozen, self.xbar.rows,
                      self.dev.weight_max if w_max is None else w_max, self._streams, self.transposed_blocks)

    def _program(self, cells: _Layer, w: np.ndarray, exact: bool) -> None:
        """Initial write, then stuck faults; ``w`` becomes the cells' weights.

        ``exact``: the target conductance itself (an ideal, write-verified write, as
        MLP+NeuroSim's WeightToConductance sets it, Array.cpp:179-187); otherwise the
        nearest pulse level of the LTP curve from G_min.
        """
        if self.differential:
            mag = np.clip(np.abs(w) / cells.w_max, 0.0, 1.0)
            target = np.stack([np.where(w > 0, mag, 0.0), np.where(w > 0, 0.0, mag)])
        else:
            target = np.clip(w / (2.0 * cells.w_max) + self.g_ref, 0.0, 1.0)[None]
        if exact:
            cells.g[:] = target
        else:
            levels = self.dev.levels_ltp
            cells.g[:] = curve_np(np.floor(curve_inverse_np(target, cells.a_ltp) * levels + 0.5) / levels, cells.a_ltp)
        if cells.frozen.size > 1:
            u = self.cell_rng.random(cells.g.shape)
            low = u < self.dev.stuck_at_min_fraction
            high = (u >= self.dev.stuck_at_min_fraction) & (u < self.dev.stuck_at_min_fraction + self.dev.stuck_at_max_fraction)
            cells.g[low] = 0.0
            cells.g[high] = 1.0
            cells.frozen[:] = low | high
        w[:] = self._weights(cells.g, cells.w_max)
        cells.set_weights(w)

    def _weights(self, g: np.ndarray, w_max: float) -> np.ndarray:
        if self.differential:
            return (w_max * (g[0] - g[1])).astype(np.float32)
        return (w_max * (2.0 * g[0] - 2.0 * self.g_ref)).astype(np.float32)

    def program_weights(self, net: Network) -> None:
        """Create and program the cells of every weight matrix of ``net`` (in place on each layer's weight)."""
        if any(layer.shape.kind != "dense" for layer in net.weight_layers):
            raise ValueError("numerics: device models dense layers only (a conv layer's cells are not modelled yet)")
        for name, w in ((layer.name, layer.weight) for layer in net.weight_layers):
            if self.slices > 1:
                self._program_slices(name, w)
                continue
            cells = self._cells(name, w.shape)
            if self.programmed:
                self._program(cells, w, exact=True)
            else:
                cells.set_weights(w)
            self.layers.append(cells)
            self.upper.append([])

    def _program_slices(self, name: str, w: np.ndarray) -> None:
        """cells_per_weight > 1: the highest cell takes what it can hold of ``w``, each lower one
        the rest it can hold (all written exactly); ``w`` becomes their sum."""
        rest = w.astype(np.float64)
        stack = []
        for k in range(self.slices - 1, -1, -1):
            cells = self._cells(name, w.shape, self.slice_w_max[k])
            lo, hi = -2.0 * self.g_ref * cells.w_max, 2.0 * (1.0 - self.g_ref) * cells.w_max
            part = np.clip(rest, lo, hi).astype(np.float32) if k > 0 else rest.astype(np.float32)
            self._program(cells, part, exact=True)
            rest -= part
            stack.append(cells)
        stack.reverse()
        self.layers.append(stack[0])
        self.upper.append(stack[1:])
        w[:] = self._stack_weights(len(self.layers) - 1)

    def _stack_weights(self, index: int) -> np.ndarray:
        """The weight the cells of layer ``index`` hold together (float32, highest cell first)."""
        total = np.zeros_like(self.layers[index].w_eff)
        for cells in [*reversed(self.upper[index]), self.layers[index]]:
            total += cells.w_eff
        return total

    def program_feedback(self, matrix: np.ndarray, transposed: bool) -> Callable[[np.ndarray], np.ndarray] | None:
        """Program a fixed feedback matrix held in crossbars (in place: it becomes the cells' values)
        and return its reader: ``s → s · matrix`` (``transposed``, FA's chain, read like
        :meth:`mvm_transposed`) or ``s → s · matrixᵀ`` (a direct projection), through DAC, cells and
        ADC; None where the error phase reads the programmed values exactly (``error_read: exact``)."""
        if not self.programmed:
            return None
        cells = self._cells(f"feedback{len(self.feedback) + 1}", matrix.shape)
        self._program(cells, matrix, exact=False)
        self.feedback.append(cells)
        if self.dev.error_read != "cells":
            return None
        if transposed:
            return lambda signal: self._read_transposed(cells, np.ascontiguousarray(signal))
        return lambda signal: self._read(cells, np.ascontiguousarray(signal), scaled=True)

    # ----------------------------------------------------------------- read hook

    def _read_weights(self, cells: _Layer) -> np.ndarray:
        """The weights one read sees: the cells' weights, with read noise on each cell's current."""
        sigma = self.dev.read_noise
        if sigma == 0.0:
            return cells.w_eff
        scale = cells.w_max * (2.0 if not self.differential else 1.0)
        out = cells.w_eff.astype(np.float64)
        for side in range(self.sides):
            sign = -1.0 if side == 1 else 1.0
            noise = self.read_rng.standard_normal(cells.w_eff.shape)
            out += sign * scale * (cells.g[side] + self.g0) * sigma * noise
        return out.astype(np.float32)

    def _stacked(self, index: int, read: Callable[[_Layer, np.ndarray], np.ndarray], signal: np.ndarray) -> np.ndarray:
        """``read`` of every cell of layer ``index`` (after its running update), added digitally."""
        self._join(index)
        out = read(self.layers[index], signal)
        for cells in self.upper[index]:
            out += read(cells, signal)
        return out

    def mvm(self, index: int, x: np.ndarray) -> np.ndarray:
        """Layer ``index`` (0-based) read for input batch ``x``: ``x Wᵀ`` through DAC, cells and ADC
        (with several cells per weight: each cell's columns read and ADC-converted on their own,
        the outputs added digitally)."""
        return self._stacked(index, self._read, x)

    def _read(self, cells: _Layer, x: np.ndarray, scaled: bool = False) -> np.ndarray:
        """``x Wᵀ`` through DAC, cells and ADC: inputs of full scale 1, or (``scaled``, an error-phase
        signal) each sample scaled to its largest magnitude, as :meth:`_read_transposed` scales ``δ``."""
        w = self._read_weights(cells)
        if not self.quantised_reads:
            return plain_mvm(x, w)
        blocks = cells.w_blocks if w is cells.w_eff else block_weights(w, self.xbar.rows, cells.transposed_blocks)
        xq, lsb = self._converters(cells, x, scaled, self.xbar.rows)
        return block_mvm(xq, blocks, lsb, self.xbar.adc_bits, cells.transposed_blocks)

    def _converters(self, cells: _Layer, signal: np.ndarray, scaled: bool, span: int) -> tuple[np.ndarray, np.ndarray]:
        """``signal`` through the DAC (full scale 1, or ``scaled``: each sample's ``s_b = max|signal_b|``) and each
        sample's ADC step for partial sums of ``span`` inputs per array (full scale ``adc_full_scale · span · w_max · s_b``)."""
        scale = np.abs(signal).max(axis=1).astype(np.float32) if scaled else np.ones(signal.shape[0], dtype=np.float32)
        full_scale = self.dev.adc_full_scale * min(span, signal.shape[1]) * cells.w_max
        lsb = (scale * np.float32(full_scale / 2 ** (self.xbar.adc_bits - 1))).astype(np.float32)
        return dac_quantise(signal, scale, self.xbar.input_bits), lsb

    def mvm_transposed(self, index: int, delta: np.ndarray) -> np.ndarray:
        """Layer ``index``'s transposed read for BP's error ``δ W`` (inputs on the columns, rows sensed).

        The same path as :meth:`mvm` the other way round: each sample's ``δ`` is scaled to
        its largest magnitude (``s_b = max|δ_b|``, digital) and DAC-quantised, each array's
        ``crossbar.cols`` columns give one partial sum per row, ADC-quantised with full
        scale ``adc_full_scale · cols_used · w_max · s_b``; the partial sums are added.
        """
        return self._stacked(index, self._read_transposed, delta)

    def _read_transposed(self, cells: _Layer, delta: np.ndarray) -> np.ndarray:
        w = self._read_weights(cells)
        if not self.quantised_reads:
            return plain_mvm(delta, w.T)
        dq, lsb = self._converters(cells, delta, True, self.xbar.cols)
        return block_mvm_transposed(dq, w, self.xbar.cols, lsb, self.xbar.adc_bits)

    def attach(self, net: Network) -> None:
        """Hook 1: every dense layer of ``net`` reads its MVM through the cells (train and eval),
        and its transposed MVM too (BP's error through ``W``)."""
        for index, layer in enumerate(net.weight_layers):
            layer.reader = lambda x, index=index: self.mvm(index, x)
            if self.dev.error_read == "cells":
                layer.transposed_reader = lambda d, index=index: self.mvm_transposed(index, d)

    # ----------------------------------------------------------------- write hook

    def write(self, weights: list[np.ndarray], update: Callable[[int], None] | None = None) -> None:
        """After an optimizer step: send ``weights - cells`` as pulses; ``weights`` become the cells' values.

        ``update(i)``, if given, is layer ``i``'s optimizer step, run here just before the
        layer is written (with two threads the first layer's step and then its pulses run on the
        helper beside the second layer's step here): layer ``i``'s pulses then start on the helper
        thread while layer ``i + 1``'s step runs on this one, and the write returns with them still running:
        a layer's next read (:meth:`mvm`, :meth:`mvm_transposed`) first waits for its own,
        and :meth:`settle` for all (each update touches only its own layer's arrays, and no
        result depends on the thread that computes it: the same bits as stepping every
        layer first and writing them in order)."""
        self.settle()
        self.steps += 1
        if not self.programmed:
            for index, (cells, w) in enumerate(zip(self.layers, weights)):
                if update is not None:
                    update(index)
                cells.set_weights(w)
            return
        stepped = 0
        if update is not None and len(self.layers) > 1 and not any(self.upper) and two_threads():
            first = self._start(self.layers[0], weights[0], background=True, before=lambda: update(0))
            self._pending[0] = (self.layers[0], first)  # layer 0's step, then its pulses, on the helper
            update(1)  # beside layer 1's step here
            first.wait_before()
            stepped = 2
        for index, (cells, w) in enumerate(zip(self.layers, weights)):
            if update is not None and index >= stepped:
                update(index)
            if index in self._pending:  # started above
                continue
            if not self.upper[index]:
                self._pending[index] = (cells, self._start(cells, w, background=update is not None))
                continue
            # several cells per weight: the lowest-order cell takes the whole change
            self.settle()
            target = cells.w_eff + (w - self._stack_weights(index))
            self._finish(cells, self._start(cells, target))  # target becomes what the cells reached
            if self.carry_every and self.steps % self.carry_every == 0:
                self._carry(index)
            w[:] = self._stack_weights(index)
        if update is None:
            self.settle()

    def _join(self, index: int) -> None:
        pending = self._pending.pop(index, None)
        if pending is not None:
            self._finish(*pending)

    def settle(self) -> None:
        """Wait for every update still running (in layer order)."""
        for index in sorted(self._pending):
            self._join(index)

    def _start(self, cells: _Layer, w: np.ndarray, background: bool = False, before: Callable[[], None] | None = None):
        """Start sending ``w - cells.w_eff`` to ``cells`` (:func:`~neurosim.kernels.device.start_pulse_update`;
        ``background``: other work follows before the join; ``before``: the step that sets ``w``, run first)."""
        key = pulse_key(self.c2c_seed, cells.stream, cells.calls)
        cells.calls += 1
        return start_pulse_update(
            w, cells.w_eff, cells.w_blocks_by_output, cells.g, cells.a_ltp, cells.a_ltd, cells.frozen, cells.pulses,
            self.dev.levels_ltp, self.dev.levels_ltd, cells.w_max, self.dev.c2c,
            self.differential, self.dev.endurance_pulses or 0, cells.row_max, key, self.g_ref, background=background, before=before,
        )  # fmt: skip

    def _finish(self, cells: _Layer, update) -> None:
        """Wait for a started update and count it."""
        ltp, ltd, written = update.join()
        cells.totals += (ltp, ltd, written, pulse_slots(cells.row_max, self.xbar.rows))  # row_max back to 0

    def _carry(self, index: int) -> None:
        """Carry (MLP_NeuroSim_V3.0 HybridCell::WeightTransfer, Cell.cpp:1003-): from the lowest
        cell up, each cell's weight is pulsed into the cell above and the cell is reset to the
        reference conductance (write-verified; the pulses a reset takes on the linear scale,
        ``round(|g - g_ref| · levels)``, are counted, not modelled)."""
        stack = [self.layers[index], *self.upper[index]]
        for below, above in zip(stack[:-1], stack[1:]):
            self._finish(above, self._start(above, above.w_eff + below.w_eff))
            live = ~below.frozen if below.frozen.size > 1 else np.ones(below.g.shape, dtype=np.bool_)
            if below.frozen.size == 1 and below.frozen[0, 0, 0]:
                live[:] = False
            up = (below.g < self.g_ref) & live
            levels = np.where(up, self.dev.levels_ltp, self.dev.levels_ltd)
            n = np.where(live, np.floor(np.abs(below.g - self.g_ref) * levels + 0.5), 0).astype(np.int64)
            below.pulses += n
            below.totals += (int(n[up].sum()), int(n[~up].sum()), int(np.count_nonzero(n)), int(n.max(initial=0)))
            below.g[live] = self.g_ref
            below.set_weights(self._weights(below.g, below.w_max))

    def stats(self) -> list[LayerWriteStats]:
        """Per weight layer: programming figures of the run so far (after every running update)."""
        self.settle()
        return [write_stats([cells, *upper], self.steps) for cells, upper in zip(self.layers, self.upper)]
