using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Probe.Capture;

namespace Probe.Analysis;

/// <summary>Why a ReLU unit never fires.</summary>
public enum DeadUnitReason
{
    /// <summary>Incoming weight norm ~ 0 and bias &lt;= 0: the pre-activation is the (non-positive) bias for every input.</summary>
    ZeroIncomingWeights,
    /// <summary>bias + ||w|| * max_x ||x|| &lt;= 0: by Cauchy-Schwarz no input of the observed norm can make it positive.</summary>
    BiasBelowReachableInput,
    /// <summary>The general case: some input could reach a positive pre-activation, but none of the data does.</summary>
    AllPreActivationsNegative,
    /// <summary>
    /// Every input the unit reads is 0 on the data (max ||x|| = 0: the layers before it pass nothing, e.g. all their
    /// units are dead) and its bias is &lt;= 0, so every pre-activation is the bias: the cause lies upstream, not in its bias.
    /// </summary>
    InputAlwaysZero,
}

/// <summary>The diagnosis of one dead unit (plain data). <see cref="ReachableBound"/> = bias + ||w|| * max input norm.</summary>
public sealed record DeadUnitCause(int Unit, double MaxPreActivation, double Bias, double WeightNorm, double MaxInputNorm,
    double ReachableBound, DeadUnitReason Reason, string Explanation);

/// <summary>How a unit's firing evolved across checkpoints. DiedAtEpoch: first checkpoint from which it is dead at every later one.</summary>
public sealed record UnitDeathRecord(int Unit, bool DeadAtEnd, int? DiedAtCheckpoint, int? DiedAtEpoch, bool EverAlive,
    bool DeadFromInitialisation, bool DiedInTraining, int Revivals);

/// <summary>Pure functions that explain dead units from the weights feeding them and follow them across checkpoints.</summary>
public static class DeadUnitDiagnosis
{
    /// <summary>
    /// Explains each dead unit of a ReLU that follows a Linear (or Conv) layer. <paramref name="weight"/> is row-major
    /// out x in (a conv kernel flattened to out x (in*kh*kw)), <paramref name="maxPreActivation"/> the per-unit maximum
    /// pre-activation over the data (the ReLU input's <see cref="LayerUnitStats.UnitMax"/>), <paramref name="maxInputNorm"/>
    /// the largest L2 norm of the layer's input rows (<see cref="LayerUnitStats.MaxRowNorm"/> of its input), or for a conv
    /// the largest norm of a window it reads (<see cref="MaxWindowSquaredNorm"/>; the whole input's norm is also valid, only looser).
    /// </summary>
    public static DeadUnitCause[] Explain(IReadOnlyList<int> deadUnits, float[] weight, float[] bias, int inFeatures,
        float[] maxPreActivation, double maxInputNorm, double zeroNormTolerance = 1e-12)
    {
        ArgumentNullException.ThrowIfNull(weight); ArgumentNullException.ThrowIfNull(bias);
        if (inFeatures <= 0) throw new ProbeException($"inFeatures must be positive, got {inFeatures}.");
        if (weight.Length != (long)bias.Length * inFeatures)
            throw new ProbeException($"The weight has {weight.Length} values; {bias.Length} outputs (bias length) x {inFeatures} inputs needs {(long)bias.Length * inFeatures}.");
        return Explain(deadUnits, RowNorms(weight, inFeatures), bias.Select(b => (double)b).ToArray(), maxPreActivation, maxInputNorm, zeroNormTolerance);
    }

    /// <summary>
    /// The largest squared L2 norm of a window a convolution reads (<paramref name="window"/>: every channel, a kernel of
    /// positions per spatial axis, dilated, zero outside the input), over rows <paramref name="from"/>..<paramref name="to"/>
    /// of <paramref name="rows"/> (one sample per row, laid out [C, S1, ..., Sk]) and over every placement that touches
    /// the input (stride 1, padding (k - 1)·d on both sides: every window any stride and zero padding reads is among them).
    /// A conv unit's pre-activation is w·x_window + b, so by Cauchy–Schwarz |w·x_window| ≤ ‖w‖ · this norm, a bound tighter
    /// than the whole input's norm by about the square root of the number of positions (the receptive field; Luo et al.
    /// 2016, "Understanding the Effective Receptive Field in Deep Convolutional Neural Networks"). Sums in double;
    /// not finite when a value is not.
    /// </summary>
    public static double MaxWindowSquaredNorm(ReadOnlySpan<float> rows, int from, int to, ConvWindow window)
    {
        ArgumentNullException.ThrowIfNull(window);
        int channels = window.InputShape[0], axes = window.Kernel.Length;
        var sizes = window.InputShape[1..];
        int positions = sizes.Aggregate(1, (a, d) => a * d), cols = channels * positions;
        if (!window.Fits(cols) || from < 0 || to < from || rows.Length < (long)to * cols)
            throw new ProbeException($"The window (kernel [{string.Join(", ", window.Kernel)}], dilation [{string.Join(", ", window.Dilation)}]) does not fit {to - from} rows of input [{string.Join(", ", window.InputShape)}] in {rows.Length} values.");
        var grid = new WindowGrid(window);
        var buffer = new double[grid.Total];
        var squares = new double[positions];
        double best = 0;
        for (int r = from; r < to; r++)
        {
            ChannelSquares(rows.Slice(r * cols, cols), channels, positions, squares);
            double m = grid.MaxWindowSum(squares, buffer);
            if (!double.IsFinite(m)) return double.NaN;
            best = Math.Max(best, m);
        }
        return best;
    }

    /// <summary>
    /// One sample's values (per position) placed in a zero-padded grid, where window sums are taken in place one axis at
    /// a time. Axis a holds e = (k - 1)·d zeros before and after its S values (the last axis more after, so whole vectors
    /// fit), and a placement's window sum along a is out[j] = Σ_{t &lt; k} in[j + t·d] for j in [0, S + e): the window
    /// starting j - e in the input's coordinates, zero outside. Each output reads only entries at or after its own, so
    /// the sums overwrite their inputs in order. An entry past S + e on an axis is in that axis's trailing zeros; sums
    /// along other axes keep it zero (its windows hold only zeros) and the axis's own pass never writes it, so after all
    /// passes the grid holds every placement's window sum and zeros, and its maximum is the largest window sum.
    /// </summary>
    private sealed class WindowGrid
    {
        readonly int[] _sizes, _kernel, _dilation, _extra, _padded, _strides, _lineAt;
        public int Total { get; }

        public WindowGrid(ConvWindow window)
        {
            _sizes = window.InputShape[1..];
            _kernel = window.Kernel;
            _dilation = window.Dilation;
            int axes = _sizes.Length, last = axes - 1;
            _extra = _sizes.Select((_, a) => (_kernel[a] - 1) * _dilation[a]).ToArray();
            _padded = _sizes.Select((d, a) => d + 2 * _extra[a]).ToArray();
            // The last axis's outputs are computed a vector at a time: room for whole vectors, still reading zeros past S + e.
            _padded[last] = (_sizes[last] + _extra[last] + 3) / 4 * 4 + _extra[last];
            _strides = new int[axes];
            for (int a = last, s = 1; a >= 0; s *= _padded[a], a--) _strides[a] = s;
            Total = _padded.Aggregate(1, (a, d) => a * d);
            // Where each run of the input along its last axis starts in the grid.
            int lines = _sizes.Aggregate(1, (a, d) => a * d) / _sizes[last];
            _lineAt = new int[lines];
            for (int l = 0; l < lines; l++)
            {
                int at = _extra[last], rest = l;
                for (int a = last - 1; a >= 0; a--) { at += (rest % _sizes[a] + _extra[a]) * _strides[a]; rest /= _sizes[a]; }
                _lineAt[l] = at;
            }
        }

        /// <summary>The largest window sum of <paramref name="values"/> (one per input position), using <paramref name="grid"/> (Total entries) as scratch.</summary>
        public double MaxWindowSum(double[] values, double[] grid)
        {
            Array.Clear(grid);
            int axes = _sizes.Length, last = axes - 1, run = _sizes[last];
            for (int l = 0; l < _lineAt.Length; l++) values.AsSpan(l * run, run).CopyTo(grid.AsSpan(_lineAt[l], run));
            // The last axis first, on the lines that hold values (every other line is zeros, and its sums are too).
            // Outputs: the line less its trailing zeros (whole vectors; see the constructor).
            int lineStart = _extra[last], lineLength = _padded[last], lineOuts = lineLength - lineStart;
            if (_kernel[last] > 1)
                foreach (int at in _lineAt) SlideLine(grid.AsSpan(at - lineStart, lineLength), lineOuts, _kernel[last], _dilation[last]);
            for (int a = last - 1; a >= 0; a--)
            {
                int k = _kernel[a], stride = _strides[a], step = _dilation[a] * stride, outs = _sizes[a] + _extra[a];
                if (k == 1) continue;
                int block = _padded[a] * stride;
                for (int o = 0; o < Total / block; o++)
                {
                    var span = grid.AsSpan(o * block, block);
                    for (int i = 0; i < outs; i++)
                    {
                        var into = span.Slice(i * stride, stride);
                        for (int t = 1; t < k; t++) AddInto(span.Slice(i * stride + t * step, stride), into);
                    }
                }
            }
            return MaxOf(grid);
        }

        // line[j] = Σ_{t < k} line[j + t·step] for j < outs (a multiple of 4), in place: each output reads only entries at or after it.
        static void SlideLine(Span<double> line, int outs, int k, int step)
        {
            int j = 0;
            ref double at = ref MemoryMarshal.GetReference(line);
            if (Vector256.IsHardwareAccelerated)
                for (; j < outs; j += 4)
                {
                    var sum = Vector256.LoadUnsafe(ref at, (nuint)j);
                    for (int t = 1; t < k; t++) sum += Vector256.LoadUnsafe(ref at, (nuint)(j + t * step));
                    sum.StoreUnsafe(ref at, (nuint)j);
                }
            for (; j < outs; j++)
            {
                double sum = line[j];
                for (int t = 1; t < k; t++) sum += line[j + t * step];
                line[j] = sum;
            }
        }
    }

    // The largest value; NaN when any value is not finite.
    static double MaxOf(ReadOnlySpan<double> values)
    {
        double best = double.NegativeInfinity;
        bool finite = true;
        int q = 0;
        if (Vector256.IsHardwareAccelerated && values.Length >= 4)
        {
            ref double src = ref MemoryMarshal.GetReference(values);
            var b = Vector256.Create(double.NegativeInfinity);
            var bad = Vector256<double>.Zero;
            for (; q <= values.Length - 4; q += 4)
            {
                var v = Vector256.LoadUnsafe(ref src, (nuint)q);
                b = Vector256.Max(b, v);
                bad += v - v;   // NaN for an infinity or a NaN, else 0
            }
            for (int i = 0; i < 4; i++) best = Math.Max(best, b.GetElement(i));
            finite = Vector256.Sum(bad) == 0;
        }
        for (; q < values.Length; q++)
        {
            finite &= double.IsFinite(values[q]);
            best = Math.Max(best, values[q]);
        }
        return finite ? best : double.NaN;
    }

    // into[q] += from[q].
    static void AddInto(ReadOnlySpan<double> from, Span<double> into)
    {
        int q = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            ref double src = ref MemoryMarshal.GetReference(from);
            ref double dst = ref MemoryMarshal.GetReference(into);
            for (; q <= from.Length - 4; q += 4)
                (Vector256.LoadUnsafe(ref dst, (nuint)q) + Vector256.LoadUnsafe(ref src, (nuint)q)).StoreUnsafe(ref dst, (nuint)q);
        }
        for (; q < from.Length; q++) into[q] += from[q];
    }

    // into[p] = sum over channels c (in order) of x[c, p]^2, in double; eight positions at a time held in registers across
    // the channels where the hardware has 256-bit vectors (the same additions in the same order either way).
    static void ChannelSquares(ReadOnlySpan<float> x, int channels, int positions, double[] into)
    {
        int p = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            ref float src = ref MemoryMarshal.GetReference(x);
            ref double dst = ref MemoryMarshal.GetArrayDataReference(into);
            for (; p <= positions - 8; p += 8)
            {
                var lo = Vector256<double>.Zero;
                var hi = lo;
                for (int c = 0; c < channels; c++)
                {
                    var v = Vector256.LoadUnsafe(ref src, (nuint)(c * positions + p));
                    var a = Vector256.WidenLower(v);
                    var b = Vector256.WidenUpper(v);
                    lo += a * a;
                    hi += b * b;
                }
                lo.StoreUnsafe(ref dst, (nuint)p);
                hi.StoreUnsafe(ref dst, (nuint)(p + 4));
            }
        }
        for (; p < positions; p++)
        {
            double sum = 0;
            for (int c = 0; c < channels; c++) { double v = x[c * positions + p]; sum += v * v; }
            into[p] = sum;
        }
    }

    /// <summary>The L2 norm of each row of a row-major (rows x <paramref name="inFeatures"/>) weight, summed in double.</summary>
    public static double[] RowNorms(float[] weight, int inFeatures)
    {
        ArgumentNullException.ThrowIfNull(weight);
        if (inFeatures <= 0 || weight.Length % inFeatures != 0) throw new ProbeException($"A weight of {weight.Length} values has no rows of {inFeatures}.");
        var norms = new double[weight.Length / inFeatures];
        for (int u = 0; u < norms.Length; u++) norms[u] = Math.Sqrt(UnitStatsAccumulator.SquaredNorm(weight.AsSpan(u * inFeatures, inFeatures)));
        return norms;
    }

    /// <summary>
    /// <see cref="Explain(IReadOnlyList{int}, float[], float[], int, float[], double, double)"/> from each unit's incoming
    /// weight norm ‖w_u‖ and bias b_u (all the rule needs).
    /// </summary>
    public static DeadUnitCause[] Explain(IReadOnlyList<int> deadUnits, double[] weightNorms, double[] bias,
        float[] maxPreActivation, double maxInputNorm, double zeroNormTolerance = 1e-12)
    {
        ArgumentNullException.ThrowIfNull(deadUnits); ArgumentNullException.ThrowIfNull(weightNorms);
        ArgumentNullException.ThrowIfNull(bias); ArgumentNullException.ThrowIfNull(maxPreActivation);
        int outFeatures = bias.Length;
        if (weightNorms.Length != outFeatures)
            throw new ProbeException($"{weightNorms.Length} weight norms for a layer of {outFeatures} units (bias length).");
        if (maxPreActivation.Length != outFeatures)
            throw new ProbeException($"{maxPreActivation.Length} max pre-activations for a layer of {outFeatures} units.");
        if (!double.IsFinite(maxInputNorm) || maxInputNorm < 0) throw new ProbeException($"The max input norm must be finite and >= 0, got {maxInputNorm}.");
        var result = new DeadUnitCause[deadUnits.Count];
        for (int k = 0; k < deadUnits.Count; k++)
        {
            int u = deadUnits[k];
            if ((uint)u >= (uint)outFeatures) throw new ProbeException($"Dead unit {u} is outside a layer of {outFeatures} units.");
            double norm = weightNorms[u], b = bias[u], bound = b + norm * maxInputNorm;
            if (!double.IsFinite(norm) || !double.IsFinite(b)) throw new ProbeException($"Unit {u} has non-finite weights or bias.");
            DeadUnitReason reason; string why;
            if (norm <= zeroNormTolerance && b <= 0)
            {
                reason = DeadUnitReason.ZeroIncomingWeights;
                why = FormattableString.Invariant($"unit {u}: incoming weights are zero (norm {norm:G3}) and bias {b:G4} <= 0, so every pre-activation equals the bias");
            }
            else if (maxInputNorm == 0 && b <= 0)
            {
                reason = DeadUnitReason.InputAlwaysZero;
                why = FormattableString.Invariant($"unit {u}: every input it reads is 0 on the data (max ||x|| 0: the layer before passes nothing), so every pre-activation equals its bias {b:G4} <= 0");
            }
            else if (bound <= 0)
            {
                reason = DeadUnitReason.BiasBelowReachableInput;
                why = FormattableString.Invariant($"unit {u}: bias {b:G4} + ||w|| {norm:G4} x max ||x|| {maxInputNorm:G4} = {bound:G4} <= 0: no input as large as the data's can switch it on");
            }
            else
            {
                reason = DeadUnitReason.AllPreActivationsNegative;
                why = FormattableString.Invariant($"unit {u}: an input could reach up to {bound:G4}, but its largest pre-activation on the data is {maxPreActivation[u]:G4}");
            }
            result[k] = new DeadUnitCause(u, maxPreActivation[u], b, norm, maxInputNorm, bound, reason, why);
        }
        return result;
    }

    /// <summary>
    /// Follows each unit across epoch-ordered checkpoints (<paramref name="firingRates"/>[checkpoint][unit]). A unit
    /// died at the first checkpoint from which its firing rate is 0 at every later checkpoint (up to the last); it is dead
    /// from initialisation when that is the first checkpoint, died in training otherwise. Revivals counts dead-to-alive
    /// transitions.
    /// </summary>
    public static UnitDeathRecord[] Timeline(IReadOnlyList<int> epochs, IReadOnlyList<float[]> firingRates)
    {
        ArgumentNullException.ThrowIfNull(epochs); ArgumentNullException.ThrowIfNull(firingRates);
        if (firingRates.Count == 0) throw new ProbeException("No checkpoints were given.");
        if (epochs.Count != firingRates.Count) throw new ProbeException($"{epochs.Count} epochs for {firingRates.Count} checkpoints.");
        for (int c = 1; c < epochs.Count; c++)
            if (epochs[c] <= epochs[c - 1]) throw new ProbeException($"Checkpoints must be in increasing epoch order; epoch {epochs[c]} follows {epochs[c - 1]}.");
        int units = firingRates[0].Length;
        for (int c = 0; c < firingRates.Count; c++)
        {
            if (firingRates[c].Length != units) throw new ProbeException($"Checkpoint {c} has {firingRates[c].Length} units; checkpoint 0 has {units}.");
            foreach (var r in firingRates[c]) if (!(r >= 0 && r <= 1)) throw new ProbeException($"Checkpoint {c} has a firing rate {r} outside [0, 1].");
        }
        int last = firingRates.Count - 1;
        var result = new UnitDeathRecord[units];
        for (int u = 0; u < units; u++)
        {
            int? died = null;
            for (int c = last; c >= 0 && firingRates[c][u] == 0; c--) died = c;
            bool everAlive = false; int revivals = 0;
            for (int c = 0; c <= last; c++)
            {
                if (firingRates[c][u] > 0) everAlive = true;
                if (c > 0 && firingRates[c - 1][u] == 0 && firingRates[c][u] > 0) revivals++;
            }
            result[u] = new UnitDeathRecord(u, died != null, died, died is int d ? epochs[d] : null, everAlive,
                DeadFromInitialisation: died == 0, DiedInTraining: died > 0, revivals);
        }
        return result;
    }
}
