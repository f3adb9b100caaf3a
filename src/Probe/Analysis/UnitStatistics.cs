using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Probe.Analysis;

/// <summary>
/// How a layer's units are judged. <see cref="Rectified"/>: a unit fires on a sample when its output is &gt; 0 and is
/// dead when it never fires (ReLU and its relatives). <see cref="Linear"/>: values of either sign carry information, so
/// a unit is dead only when it is exactly zero on every sample. <see cref="Sigmoid"/> / <see cref="Tanh"/>: units are
/// judged for saturation instead of death. <see cref="Auto"/>: decided from the module type when it is known
/// (see <see cref="UnitActivations.FromModuleType"/>), otherwise from the data (never negative: Rectified, else Linear).
/// </summary>
public enum UnitActivation { Auto, Rectified, Linear, Sigmoid, Tanh }

/// <summary>Helpers for <see cref="UnitActivation"/>.</summary>
public static class UnitActivations
{
    /// <summary>Maps a module type name (e.g. "ReLU", "Sigmoid", "Linear") to an activation kind; Auto when unknown.</summary>
    public static UnitActivation FromModuleType(string? moduleType)
    {
        if (string.IsNullOrEmpty(moduleType)) return UnitActivation.Auto;
        string t = moduleType.ToLowerInvariant();
        // Named after sigmoid or tanh but unbounded: log σ(x) in (-inf, 0), x - tanh x in R. No ends to saturate at.
        if (t.Contains("logsigmoid") || t.Contains("tanhshrink")) return UnitActivation.Auto;
        if (t.Contains("sigmoid")) return UnitActivation.Sigmoid;
        if (t.Contains("tanh")) return UnitActivation.Tanh;
        if (t.Contains("relu") || t.Contains("elu") || t.Contains("silu") || t.Contains("swish") || t.Contains("mish") || t.Contains("softplus"))
            return UnitActivation.Rectified;
        if (t.Contains("linear") || t.Contains("conv") || t.Contains("norm") || t.Contains("embedding")) return UnitActivation.Linear;
        return UnitActivation.Auto;
    }
}

/// <summary>
/// Per-layer statistics of one layer's activations (plain data). Firing rate = fraction of samples with a &gt; 0.
/// Std is the population standard deviation (divide by the number of values). For spatial (conv) input the per-unit
/// fields describe channels reduced by max over positions (a channel fires on a sample when any position is &gt; 0),
/// except saturation: a channel is saturated on a sample when every one of its positions is within 1% of an end of
/// the activation's range; the layer-wide fields describe every value seen.
/// </summary>
public sealed record LayerUnitStats(
    string Layer,
    UnitActivation Activation,
    long Samples,
    int Units,
    long Values,
    double Sparsity,
    double Epsilon,
    double EpsilonSparsity,
    double Mean,
    double Std,
    double Min,
    double Max,
    double MaxRowNorm,
    float[] FiringRates,
    float[] UnitMin,
    float[] UnitMax,
    float[] SaturationRates,
    int[] DeadUnits,
    int[] DyingUnits,
    int[] SaturatedUnits,
    double DeadFraction,
    double DyingFraction,
    double SaturatedFraction);

/// <summary>
/// Streaming statistics of one layer, memory O(units) whatever the number of samples. Rows are samples, columns are
/// units. Integer counts, per-unit min/max and firing rates are exactly independent of how the data is batched; mean
/// and std are merged per batch (shifted sums within a batch, Chan et al. merge across batches) in double precision.
/// </summary>
public sealed class UnitStatsAccumulator
{
    private readonly int _units;
    private readonly double _epsilon;
    private readonly UnitActivation _activation;
    private readonly int[] _positive;     // per unit: samples with a > 0
    private readonly int[] _satSigmoid;   // per unit: samples with |a - 0.5| >= 0.49 (within 1% of the ends of [0, 1])
    private readonly int[] _satTanh;      // per unit: samples with |a| >= 0.98 (within 1% of the ends of [-1, 1])
    // Per unit (Linear and Auto layers, spatial rows): samples whose channel maximum was exactly 0 but some position was
    // < 0. The per-unit min/max of spatial rows are of the channels' maxima, so without it a channel <= 0 whose maximum
    // is 0 on every sample (a bias-free conv over a zero border) would look exactly zero, i.e. dead under the Linear rule.
    private readonly int[] _hiddenNegative;
    private readonly float[] _min, _max;
    private long _samples, _values, _zeros, _epsCount;
    private double _mean, _m2, _maxRowNormSq;
    // The smallest value of any spatial row (every position); the per-unit minima of spatial rows are of the channels'
    // maxima, so they cannot give the layer's minimum. Dense rows need none: their per-unit minima are of every value.
    private float _spatialMin = float.PositiveInfinity;
    private float[]? _reduced, _reducedSecond;
    private long _nonFinite;
    private readonly UnitCounters _main;
    private UnitCounters? _second;

    /// <summary>Per-unit counters; a second set lets the two halves of a large batch run on both cores.</summary>
    private sealed class UnitCounters(int[] positive, int[] satSigmoid, int[] satTanh, float[] min, float[] max, int[] hiddenNegative)
    {
        public readonly int[] Positive = positive, SatSigmoid = satSigmoid, SatTanh = satTanh, HiddenNegative = hiddenNegative;
        public readonly float[] Min = min, Max = max;

        public UnitCounters EmptyLike() => new(new int[Positive.Length], new int[SatSigmoid.Length], new int[SatTanh.Length],
            new float[Min.Length], new float[Max.Length], new int[HiddenNegative.Length]);

        public void Reset()
        {
            Array.Clear(Positive); Array.Clear(SatSigmoid); Array.Clear(SatTanh); Array.Clear(HiddenNegative);
            Array.Fill(Min, float.PositiveInfinity); Array.Fill(Max, float.NegativeInfinity);
        }

        /// <summary>Folds another set in: counts add, min and max combine; all exact, so the order does not matter.</summary>
        public void Absorb(UnitCounters o)
        {
            for (int j = 0; j < Positive.Length; j++) Positive[j] += o.Positive[j];
            for (int j = 0; j < SatSigmoid.Length; j++) SatSigmoid[j] += o.SatSigmoid[j];
            for (int j = 0; j < SatTanh.Length; j++) SatTanh[j] += o.SatTanh[j];
            for (int j = 0; j < HiddenNegative.Length; j++) HiddenNegative[j] += o.HiddenNegative[j];
            for (int j = 0; j < Min.Length; j++) { Min[j] = Math.Min(Min[j], o.Min[j]); Max[j] = Math.Max(Max[j], o.Max[j]); }
        }
    }

    /// <summary>Creates an accumulator for a layer of <paramref name="units"/> units.</summary>
    public UnitStatsAccumulator(int units, UnitActivation activation = UnitActivation.Auto, double epsilon = 0)
    {
        if (units <= 0) throw new ProbeException($"A layer needs at least one unit, got {units}.");
        if (!(epsilon >= 0) || double.IsInfinity(epsilon)) throw new ProbeException($"Epsilon must be a finite number >= 0, got {epsilon}.");
        _units = units; _activation = activation; _epsilon = epsilon;
        _positive = new int[units];
        bool sat = activation is UnitActivation.Auto or UnitActivation.Sigmoid or UnitActivation.Tanh;
        _satSigmoid = sat && activation != UnitActivation.Tanh ? new int[units] : [];
        _satTanh = sat && activation != UnitActivation.Sigmoid ? new int[units] : [];
        _hiddenNegative = activation is UnitActivation.Auto or UnitActivation.Linear ? new int[units] : [];
        _min = new float[units]; _max = new float[units];
        Array.Fill(_min, float.PositiveInfinity); Array.Fill(_max, float.NegativeInfinity);
        _main = new UnitCounters(_positive, _satSigmoid, _satTanh, _min, _max, _hiddenNegative);
    }

    /// <summary>The accumulator's whole state as plain data (for shards: each process saves it, <c>probe merge</c> adds them).</summary>
    public UnitStatsState State() => new(_units, _activation, _epsilon, (int[])_positive.Clone(), (int[])_satSigmoid.Clone(), (int[])_satTanh.Clone(),
        (float[])_min.Clone(), (float[])_max.Clone(), _samples, _values, _zeros, _epsCount, _mean, _m2, _maxRowNormSq,
        float.IsPositiveInfinity(_spatialMin) ? null : _spatialMin, (int[])_hiddenNegative.Clone());

    /// <summary>An accumulator holding <paramref name="state"/>.</summary>
    public static UnitStatsAccumulator FromState(UnitStatsState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        var a = new UnitStatsAccumulator(state.Units, state.Activation, state.Epsilon);
        a.Absorb(state);
        return a;
    }

    /// <summary>
    /// Folds in the state of another accumulator of the same layer that saw other samples: counts, minima and maxima
    /// combine exactly (so dead and dying units are identical to one pass over all samples); the mean and the sum of
    /// squared deviations merge with Chan et al.'s formula (equal to one pass up to double rounding).
    /// </summary>
    public void Absorb(UnitStatsState o)
    {
        ArgumentNullException.ThrowIfNull(o);
        if (o.Units != _units || o.Activation != _activation || o.Epsilon != _epsilon || o.SatSigmoid.Length != _satSigmoid.Length || o.SatTanh.Length != _satTanh.Length)
            throw new ProbeException($"Cannot merge statistics of a layer with {o.Units} units ({o.Activation}, epsilon {o.Epsilon}) into one with {_units} ({_activation}, epsilon {_epsilon}).");
        _main.Absorb(new UnitCounters(o.Positive, o.SatSigmoid, o.SatTanh, o.Min, o.Max,
            o.HiddenNegative is { Length: > 0 } h && h.Length == _hiddenNegative.Length ? h : new int[_hiddenNegative.Length]));
        if (o.Values > 0)
        {
            long total = _values + o.Values;
            double delta = o.Mean - _mean;
            _m2 = _m2 + o.M2 + delta * delta * ((double)_values * o.Values / total);
            _mean += delta * o.Values / total;
            _values = total;
        }
        _samples += o.Samples;
        _zeros += o.Zeros;
        _epsCount += o.EpsCount;
        _maxRowNormSq = Math.Max(_maxRowNormSq, o.MaxRowNormSq);
        if (o.SpatialMin is { } low) _spatialMin = Math.Min(_spatialMin, low);
    }

    /// <summary>Batches of at least this many values are summed as two fixed halves, which may run on two cores.</summary>
    internal const int ParallelThreshold = 1 << 16;

    public int Units => _units;

    /// <summary>Whether some unit has not been &gt; 0 on any sample so far.</summary>
    public bool HasSilentUnit => Array.IndexOf(_positive, 0) >= 0;

    /// <summary>The units that have not been &gt; 0 on any sample so far (ascending).</summary>
    public int[] NeverPositive()
    {
        int n = 0;
        foreach (int c in _positive) if (c == 0) n++;
        var units = new int[n];
        for (int j = 0, k = 0; j < _units; j++) if (_positive[j] == 0) units[k++] = j;
        return units;
    }
    public long Samples => _samples;

    /// <summary>Adds a batch: one row per sample, one column per unit.</summary>
    public void Add(Matrix batch)
    {
        ArgumentNullException.ThrowIfNull(batch);
        if (batch.Cols != _units) throw new ProbeException($"A batch has {batch.Cols} columns but the layer has {_units} units.");
        ThrowIfNonFinite(AddRows(batch.Data.AsSpan(0, batch.Rows * batch.Cols), batch.Rows, 1, parallel: true), batch);
    }

    /// <summary>
    /// Adds a batch of spatial maps: each row holds <see cref="Units"/> channels x <paramref name="positions"/>
    /// values, channel-major. Rule: a channel fires on a sample when any of its positions is &gt; 0 (reduction by max);
    /// its per-unit min/max use the same max-reduced value; it is saturated on a sample when every one of its positions
    /// is within 1% of an end of the range. Sparsity, mean, std, min and max use every value.
    /// </summary>
    public void AddSpatial(Matrix batch, int positions)
    {
        ArgumentNullException.ThrowIfNull(batch);
        if (positions <= 0) throw new ProbeException($"Positions per channel must be positive, got {positions}.");
        if (batch.Cols != (long)_units * positions)
            throw new ProbeException($"A spatial batch needs {_units} channels x {positions} positions = {(long)_units * positions} columns, got {batch.Cols}.");
        ThrowIfNonFinite(AddRows(batch.Data.AsSpan(0, batch.Rows * batch.Cols), batch.Rows, positions, parallel: true), batch);
    }

    private static void ThrowIfNonFinite(long bad, Matrix batch)
    {
        if (bad > 0) { batch.EnsureFinite("An activation batch"); throw new ProbeException("An activation batch has non-finite values."); }
    }

    /// <summary>
    /// Adds <paramref name="count"/> rows of <see cref="Units"/> x <paramref name="positions"/> values (channel-major;
    /// <paramref name="positions"/> 1 for dense rows) where they lie, as <see cref="Add"/> and <see cref="AddSpatial"/>
    /// do. Returns the number of NaN or infinite values: when it is not 0 the batch is not added and the accumulator
    /// refuses to give a result from then on (its per-unit counters may have seen part of the batch). A large batch
    /// (<see cref="ParallelThreshold"/> values or more) is always summed as two fixed halves, so the result is the same
    /// to the bit with or without <paramref name="parallel"/>, which runs the second half on .NET's thread pool. Leave it
    /// off inside libtorch's forward pass (a hook), where libtorch's idle OpenMP threads spin on the other cores: work
    /// on .NET's pool shares a core with them and measured slower than one thread (Probe's own hooks hand the halves to
    /// those OpenMP threads instead).
    /// </summary>
    public long AddRows(ReadOnlySpan<float> rows, int count, int positions, bool parallel = false) =>
        AddRows(rows, count, positions, parallel ? HalvesOn.DotNetPool : HalvesOn.OneThread);

    /// <summary>Where the two halves of a large batch run (the result is the same, to the bit, on each).</summary>
    internal enum HalvesOn
    {
        /// <summary>One after the other on the calling thread.</summary>
        OneThread,
        /// <summary>The second on .NET's thread pool.</summary>
        DotNetPool,
        /// <summary>On libtorch's OpenMP threads (<see cref="Native.TorchThreads"/>), idle while a hook runs; one thread where they are not available.</summary>
        TorchThreads,
    }

    /// <summary>As the public overload; <paramref name="on"/> says where a large batch's two halves run.</summary>
    internal long AddRows(ReadOnlySpan<float> rows, int count, int positions, HalvesOn on)
    {
        if (positions <= 0) throw new ProbeException($"Positions per channel must be positive, got {positions}.");
        int cols = checked(_units * positions);
        if (rows.Length != (long)count * cols)
            throw new ProbeException($"A batch of {count} rows of {_units} units x {positions} positions needs {(long)count * cols} values, got {rows.Length}.");
        if (count == 0) return 0;
        if (_samples + count > int.MaxValue) throw new ProbeException("More than 2^31 samples in one layer are not supported.");
        double shift = Shift(rows);
        var acc = new LayerAcc { Low = float.PositiveInfinity };
        if (rows.Length >= ParallelThreshold && count >= 2)
        {
            // Two fixed halves, the second into its own counters, merged below in a fixed order whichever thread ran
            // them, so the result depends neither on timing nor on the number of cores. Counts, min and max are exact;
            // the two double sums are added first-half first.
            int half = count / 2;
            _second ??= _main.EmptyLike();
            _second.Reset();
            var parts = new LayerAcc[2];
            parts[0].Low = parts[1].Low = float.PositiveInfinity;
            unsafe
            {
                fixed (float* p = rows)
                {
                    float* at = p; int len = rows.Length;
                    void Part(int i)
                    {
                        var span = new ReadOnlySpan<float>(at, len);
                        if (i == 0) AddRange(span, 0, half, cols, positions, shift, ref parts[0], _main, _reduced ??= new float[_units]);
                        else AddRange(span, half, count, cols, positions, shift, ref parts[1], _second, _reducedSecond ??= new float[_units]);
                    }
                    if (on == HalvesOn.DotNetPool && Environment.ProcessorCount > 1)
                    {
                        var task = Task.Run(() => Part(1));
                        Part(0);
                        task.GetAwaiter().GetResult();
                    }
                    else if (on != HalvesOn.TorchThreads || !Native.TorchThreads.TryRun(2, Part)) { Part(0); Part(1); }
                }
            }
            _main.Absorb(_second);
            acc = parts[0];
            var second = parts[1];
            acc.S1 += second.S1; acc.S2 += second.S2; acc.Zeros += second.Zeros; acc.Eps += second.Eps;
            acc.MaxRowSq = Math.Max(acc.MaxRowSq, second.MaxRowSq);
            acc.Low = Math.Min(acc.Low, second.Low);
        }
        else AddRange(rows, 0, count, cols, positions, shift, ref acc, _main, _reduced ??= new float[_units]);
        if (!double.IsFinite(acc.S2))
        {
            // A NaN or infinity makes the sums non-finite (finite float32 values cannot overflow them).
            long bad = Matrix.CountNonFinite(rows);
            _nonFinite += Math.Max(1, bad);
            return Math.Max(1, bad);
        }
        Merge(count, rows.Length, shift, acc);
        return 0;
    }

    private void AddRange(ReadOnlySpan<float> rows, int from, int to, int cols, int positions, double shift, ref LayerAcc acc, UnitCounters u, float[] reduced)
    {
        for (int r = from; r < to; r++)
        {
            var row = rows.Slice(r * cols, cols);
            if (positions == 1) FusedRow(row, shift, ref acc, u);
            else
            {
                SpatialRow(row, positions, shift, ref acc, reduced);
                AccumulateUnits(reduced, u);
                // A channel is saturated on a sample when every one of its positions is (no gradient flows through
                // it); its maximum near an end says only that one position is.
                for (int c = 0; c < u.SatSigmoid.Length; c++)
                    if (AllSaturated(row.Slice(c * positions, positions), sigmoid: true)) u.SatSigmoid[c]++;
                for (int c = 0; c < u.SatTanh.Length; c++)
                    if (AllSaturated(row.Slice(c * positions, positions), sigmoid: false)) u.SatTanh[c]++;
                if (u.HiddenNegative.Length > 0)
                    for (int c = 0; c < reduced.Length; c++)
                        if (reduced[c] == 0 && MinOf(row.Slice(c * positions, positions)) < 0) u.HiddenNegative[c]++;
            }
        }
    }

    // The shift for the batch's sums: the running mean (or the batch's first value), so sum (x - K)^2 - n (mean - K)^2
    // cancels little (the "shifted data" algorithm); batches are then merged exactly with Chan et al.'s formula.
    private double Shift(ReadOnlySpan<float> data) => _values > 0 ? _mean : float.IsFinite(data[0]) ? data[0] : 0;

    private struct LayerAcc
    {
        public double S1, S2, MaxRowSq;
        public long Zeros, Eps;
        /// <summary>The smallest value of the spatial rows (positive infinity until one is added; dense rows leave it).</summary>
        public float Low;
    }

    /// <summary>
    /// One row of a spatial batch in one pass over its values, a channel at a time: the layer sums (zeros, near-zeros,
    /// and in double sum x and sum x^2 — x^2 of a float32 is exact in double) and each channel's maximum over its
    /// positions into <paramref name="reduced"/> (the scalar rule per lane: v replaces the best only when v &gt; best,
    /// so NaN never wins). The shifted sums follow, sum (x - K) = sum x - m K and sum (x - K)^2 = sum x^2 - 2 K sum x +
    /// m K^2; those lose about eps * sum x^2 / sum (x - K)^2 to cancellation, so a row whose values sit far from 0
    /// relative to their spread (sum (x - K)^2 &lt; 1e-4 sum x^2) takes the shifted sums directly instead.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void SpatialRow(ReadOnlySpan<float> row, int positions, double shift, ref LayerAcc acc, float[] reduced)
    {
        var (sx, sxx, zeros, epsN, low) = ChannelSums(row, positions, (float)_epsilon, reduced);
        int m = row.Length;
        double s1 = sx - m * shift, s2 = sxx - 2 * shift * sx + m * shift * shift;
        if (!(s2 >= 1e-4 * sxx)) (s1, s2, _, _) = RowSums(row, shift, 0, count: false);
        acc.S1 += s1; acc.S2 += s2; acc.Zeros += zeros; acc.Eps += epsN;
        acc.MaxRowSq = Math.Max(acc.MaxRowSq, sxx);
        acc.Low = Math.Min(acc.Low, low);
    }

    /// <summary>Per lane, v where v &gt; best, else best (NaN never wins; of equal values the best stays): x86's
    /// MAXPS is exactly that rule in one instruction.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> MaxStep(Vector256<float> v, Vector256<float> best) =>
        Avx.IsSupported ? Avx.Max(v, best) : Vector256.ConditionalSelect(Vector256.GreaterThan(v, best), v, best);

    /// <summary>Per lane, v where v &lt; low, else low (MINPS, the mirror of <see cref="MaxStep"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> MinStep(Vector256<float> v, Vector256<float> low) =>
        Avx.IsSupported ? Avx.Min(v, low) : Vector256.ConditionalSelect(Vector256.LessThan(v, low), v, low);

    /// <summary>Adds a vector's 8 values, widened to double, to two sums and their squares to two more (x^2 of a
    /// float32 is exact in double, so the fused and a separate multiply-add agree).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AddSums(Vector256<float> v, ref Vector256<double> lo, ref Vector256<double> hi, ref Vector256<double> sqLo, ref Vector256<double> sqHi)
    {
        var vl = Vector256.WidenLower(v); var vh = Vector256.WidenUpper(v);
        lo += vl; hi += vh;
        sqLo = Vector256.MultiplyAddEstimate(vl, vl, sqLo); sqHi = Vector256.MultiplyAddEstimate(vh, vh, sqHi);
    }

    /// <summary>
    /// sum x and sum x^2 in double, zeros and values within <paramref name="epsilon"/> of 0 (when epsilon &gt; 0) of a
    /// row of channels x <paramref name="positions"/> values, and each channel's maximum into <paramref name="max"/>,
    /// reading each value once. Two sets of 256-bit accumulators (even and odd halves of 16 values) so consecutive
    /// additions do not wait on each other; combined in a fixed order, so the result does not depend on timing.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static (double S1, double S2, long Zeros, long Eps, float Min) ChannelSums(ReadOnlySpan<float> row, int positions, float epsilon, Span<float> max)
    {
        int channels = row.Length / positions;
        if (!Vector256.IsHardwareAccelerated)
        {
            for (int c = 0; c < channels; c++) max[c] = MaxOf(row.Slice(c * positions, positions));
            float min = float.PositiveInfinity;
            foreach (float v in row) min = v < min ? v : min;
            var (a, b, z, e) = RowSums(row, 0, epsilon, count: true);
            return (a, b, z, e, min);
        }
        bool countEps = epsilon > 0;
        var a0 = Vector256<double>.Zero; var a1 = a0; var a2 = a0; var a3 = a0;
        var b0 = a0; var b1 = a0; var b2 = a0; var b3 = a0;
        var z0 = Vector256<int>.Zero; var z1 = z0; var e0 = z0;
        var veps = Vector256.Create(epsilon); var ninf = Vector256.Create(float.NegativeInfinity);
        var pinf = Vector256.Create(float.PositiveInfinity); var lo0 = pinf; var lo1 = pinf;
        float low = float.PositiveInfinity;
        double s1 = 0, s2 = 0; long zeros = 0, epsN = 0;
        ref float start = ref MemoryMarshal.GetReference(row);
        for (int c = 0; c < channels; c++)
        {
            ref float p = ref Unsafe.Add(ref start, c * positions);
            var m0 = ninf; var m1 = ninf;
            int j = 0;
            for (; j <= positions - 16; j += 16)
            {
                var v = Vector256.LoadUnsafe(ref p, (nuint)j);
                var u = Vector256.LoadUnsafe(ref p, (nuint)(j + 8));
                z0 -= Vector256.Equals(v, Vector256<float>.Zero).AsInt32();
                z1 -= Vector256.Equals(u, Vector256<float>.Zero).AsInt32();
                if (countEps) e0 -= (Vector256.LessThanOrEqual(Vector256.Abs(v), veps) + Vector256.LessThanOrEqual(Vector256.Abs(u), veps)).AsInt32();
                m0 = MaxStep(v, m0); m1 = MaxStep(u, m1);
                lo0 = MinStep(v, lo0); lo1 = MinStep(u, lo1);
                AddSums(v, ref a0, ref a1, ref b0, ref b1);
                AddSums(u, ref a2, ref a3, ref b2, ref b3);
            }
            if (j <= positions - 8)
            {
                var v = Vector256.LoadUnsafe(ref p, (nuint)j);
                z0 -= Vector256.Equals(v, Vector256<float>.Zero).AsInt32();
                if (countEps) e0 -= Vector256.LessThanOrEqual(Vector256.Abs(v), veps).AsInt32();
                m0 = MaxStep(v, m0);
                lo0 = MinStep(v, lo0);
                AddSums(v, ref a0, ref a1, ref b0, ref b1);
                j += 8;
            }
            if (j < positions && positions >= 8)
            {
                // The last 1-7 values: the row's last 8 values with the lanes already read masked out (zero in the
                // sums, never equal to 0 nor above the maximum).
                int tail = positions - j;
                var v = Vector256.LoadUnsafe(ref p, (nuint)(positions - 8));
                // The lane indices are a constant made here: a static field's first-use check is a helper call, and
                // a call anywhere in the method made the JIT keep the loop's accumulators in memory (2x slower).
                var keep = Vector256.GreaterThanOrEqual(Vector256.Create(0, 1, 2, 3, 4, 5, 6, 7), Vector256.Create(8 - tail)).AsSingle();
                z0 -= (Vector256.Equals(v, Vector256<float>.Zero) & keep).AsInt32();
                if (countEps) e0 -= (Vector256.LessThanOrEqual(Vector256.Abs(v), veps) & keep).AsInt32();
                m0 = MaxStep(Vector256.ConditionalSelect(keep, v, ninf), m0);
                lo0 = MinStep(Vector256.ConditionalSelect(keep, v, pinf), lo0);
                AddSums(v & keep, ref a0, ref a1, ref b0, ref b1);
                j = positions;
            }
            m0 = MaxStep(m1, m0);
            float best = float.NegativeInfinity;
            for (int k = 0; k < 8; k++) { float x = m0.GetElement(k); best = x > best ? x : best; }
            for (; j < positions; j++)
            {
                float v = Unsafe.Add(ref p, j);
                if (v == 0) zeros++;
                if (countEps && MathF.Abs(v) <= epsilon) epsN++;
                best = v > best ? v : best;
                low = v < low ? v : low;
                s1 += v; s2 += (double)v * v;
            }
            max[c] = best;
        }
        lo0 = MinStep(lo1, lo0);
        for (int k = 0; k < 8; k++) { float x = lo0.GetElement(k); low = x < low ? x : low; }
        s1 += Vector256.Sum((a0 + a1) + (a2 + a3));
        s2 += Vector256.Sum((b0 + b1) + (b2 + b3));
        zeros += Vector256.Sum(z0) + (long)Vector256.Sum(z1);
        epsN += Vector256.Sum(e0);
        return (s1, s2, zeros, epsN, low);
    }

    /// <summary>
    /// sum (x - shift) and sum (x - shift)^2 of a run of values in double (with shift 0, the sum and the squared norm),
    /// and with <paramref name="count"/> its zeros and its values within <paramref name="epsilon"/> of 0 (when
    /// epsilon &gt; 0). Two independent sets of vector accumulators (even and odd vectors) so consecutive vectors do
    /// not wait on each other's additions; combined in a fixed order, so the result does not depend on timing.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static (double S1, double S2, long Zeros, long Eps) RowSums(ReadOnlySpan<float> row, double shift, float epsilon, bool count)
    {
        bool countEps = epsilon > 0 && count, countZeros = count; float eps = epsilon;
        double s1 = 0, s2 = 0; long zeros = 0, epsN = 0;
        int j = 0;
        if (Vector.IsHardwareAccelerated)
        {
            int w = Vector<float>.Count;
            var vs1 = Vector<double>.Zero; var vs2 = vs1; var ws1 = vs1; var ws2 = vs1;
            var vshift = new Vector<double>(shift);
            var vz = Vector<int>.Zero; var wz = vz; var ve = vz;
            var veps = new Vector<float>(eps);
            bool shifted = shift != 0;
            for (; j <= row.Length - 2 * w; j += 2 * w)
            {
                var v = new Vector<float>(row.Slice(j));
                var u = new Vector<float>(row.Slice(j + w));
                if (countZeros)
                {
                    vz -= Vector.Equals(v, Vector<float>.Zero);
                    wz -= Vector.Equals(u, Vector<float>.Zero);
                }
                if (countEps) ve -= Vector.LessThanOrEqual(Vector.Abs(v), veps) + Vector.LessThanOrEqual(Vector.Abs(u), veps);
                Vector.Widen(v, out var lo, out var hi);
                Vector.Widen(u, out var lo2, out var hi2);
                if (shifted) { lo -= vshift; hi -= vshift; lo2 -= vshift; hi2 -= vshift; }
                vs1 += lo + hi; vs2 += lo * lo + hi * hi;
                ws1 += lo2 + hi2; ws2 += lo2 * lo2 + hi2 * hi2;
            }
            s1 = Vector.Sum(vs1 + ws1); s2 = Vector.Sum(vs2 + ws2);
            zeros = Vector.Sum(vz) + Vector.Sum(wz); epsN = Vector.Sum(ve);
        }
        for (; j < row.Length; j++)
        {
            float v = row[j];
            if (countZeros && v == 0) zeros++;
            if (countEps && MathF.Abs(v) <= eps) epsN++;
            double dv = v - shift; s1 += dv; s2 += dv * dv;
        }
        return (s1, s2, zeros, epsN);
    }

    /// <summary>The largest value of a run, a vector at a time (v replaces the best only when v &gt; best: NaN never wins; -infinity when empty).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static float MaxOf(ReadOnlySpan<float> values)
    {
        float m = float.NegativeInfinity;
        int j = 0;
        if (Vector256.IsHardwareAccelerated && values.Length >= 8)
        {
            ref float p = ref MemoryMarshal.GetReference(values);
            var best = Vector256.Create(float.NegativeInfinity);
            var best2 = best;
            for (; j <= values.Length - 16; j += 16)
            {
                best = MaxStep(Vector256.LoadUnsafe(ref p, (nuint)j), best);
                best2 = MaxStep(Vector256.LoadUnsafe(ref p, (nuint)(j + 8)), best2);
            }
            if (j <= values.Length - 8) { best = MaxStep(Vector256.LoadUnsafe(ref p, (nuint)j), best); j += 8; }
            best = MaxStep(best2, best);
            for (int k = 0; k < 8; k++) { float x = best.GetElement(k); m = x > m ? x : m; }
        }
        for (; j < values.Length; j++) m = values[j] > m ? values[j] : m;
        return m;
    }

    /// <summary>The smallest value of a run (v replaces the best only when v &lt; best; +infinity when empty).</summary>
    internal static float MinOf(ReadOnlySpan<float> values)
    {
        float m = float.PositiveInfinity;
        foreach (float v in values) m = v < m ? v : m;
        return m;
    }

    /// <summary>sum x^2 of a run in double (x^2 of a float32 is exact in double); not finite when a value is not.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static double SquaredNorm(ReadOnlySpan<float> values)
    {
        if (!Vector256.IsHardwareAccelerated) return RowSums(values, 0, 0, count: false).S2;
        ref float p = ref MemoryMarshal.GetReference(values);
        var b0 = Vector256<double>.Zero; var b1 = b0; var b2 = b0; var b3 = b0;
        int j = 0;
        for (; j <= values.Length - 16; j += 16)
        {
            var v = Vector256.LoadUnsafe(ref p, (nuint)j);
            var u = Vector256.LoadUnsafe(ref p, (nuint)(j + 8));
            var vl = Vector256.WidenLower(v); var vh = Vector256.WidenUpper(v);
            var ul = Vector256.WidenLower(u); var uh = Vector256.WidenUpper(u);
            b0 = Vector256.MultiplyAddEstimate(vl, vl, b0); b1 = Vector256.MultiplyAddEstimate(vh, vh, b1);
            b2 = Vector256.MultiplyAddEstimate(ul, ul, b2); b3 = Vector256.MultiplyAddEstimate(uh, uh, b3);
        }
        double s = Vector256.Sum((b0 + b1) + (b2 + b3));
        for (; j < values.Length; j++) s += (double)values[j] * values[j];
        return s;
    }

    private void Merge(int rows, long n, double shift, in LayerAcc acc)
    {
        double d = acc.S1 / n;
        double mean = shift + d;
        double m2 = Math.Max(0, acc.S2 - acc.S1 * d);
        // Chan, Golub & LeVeque: merge (n_a, mean_a, M2_a) with (n_b, mean_b, M2_b).
        long total = _values + n;
        double delta = mean - _mean;
        _m2 = _m2 + m2 + delta * delta * ((double)_values * n / total);
        _mean += delta * n / total;
        _values = total;
        _samples += rows;
        _zeros += acc.Zeros;
        _epsCount += _epsilon > 0 ? acc.Eps : acc.Zeros;
        _maxRowNormSq = Math.Max(_maxRowNormSq, acc.MaxRowSq);
        _spatialMin = Math.Min(_spatialMin, acc.Low);
    }

    // One row of a dense batch: per-unit counters and layer sums in a single vectorized pass.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void FusedRow(ReadOnlySpan<float> row, double shift, ref LayerAcc acc, UnitCounters u)
    {
        int n = _units, j = 0;
        bool sig = u.SatSigmoid.Length > 0, tanh = u.SatTanh.Length > 0, countEps = _epsilon > 0;
        float eps = (float)_epsilon;
        double s1 = 0, s2 = 0, sq = 0; long zeros = 0, epsN = 0;
        if (Vector.IsHardwareAccelerated && n >= Vector<float>.Count)
        {
            int w = Vector<float>.Count;
            // Unchecked refs: every array has _units elements and k < n / w (no bounds checks in the hot loop).
            ref var pos = ref Unsafe.As<int, Vector<int>>(ref MemoryMarshal.GetArrayDataReference(u.Positive));
            ref var mn = ref Unsafe.As<float, Vector<float>>(ref MemoryMarshal.GetArrayDataReference(u.Min));
            ref var mx = ref Unsafe.As<float, Vector<float>>(ref MemoryMarshal.GetArrayDataReference(u.Max));
            ref var rv = ref Unsafe.As<float, Vector<float>>(ref MemoryMarshal.GetReference(row));
            var kv = new Vector<double>(shift); var ev = new Vector<float>(eps);
            Vector<double> a0 = Vector<double>.Zero, a1 = Vector<double>.Zero, b0 = Vector<double>.Zero, b1 = Vector<double>.Zero;
            Vector<float> sqv = Vector<float>.Zero;
            Vector<int> z = Vector<int>.Zero, e = Vector<int>.Zero;
            int vc = n / w;
            bool both = sig && tanh;
            ref var ss = ref Unsafe.As<int, Vector<int>>(ref MemoryMarshal.GetArrayDataReference(sig ? u.SatSigmoid : u.Positive));
            ref var st = ref Unsafe.As<int, Vector<int>>(ref MemoryMarshal.GetArrayDataReference(tanh ? u.SatTanh : u.Positive));
            var half = new Vector<float>(0.5f); var t49 = new Vector<float>(0.49f); var t98 = new Vector<float>(0.98f);
            for (int k = 0; k < vc; k++)
            {
                var v = Unsafe.Add(ref rv, k);
                ref var p = ref Unsafe.Add(ref pos, k);
                p -= Vector.GreaterThan(v, Vector<float>.Zero);
                ref var lo_ = ref Unsafe.Add(ref mn, k);
                lo_ = Vector.MinNative(lo_, v);
                ref var hi_ = ref Unsafe.Add(ref mx, k);
                hi_ = Vector.MaxNative(hi_, v);
                z -= Vector.Equals(v, Vector<float>.Zero);
                sqv += v * v;
                Vector.Widen(v, out var lo, out var hi);
                lo -= kv; hi -= kv;
                a0 += lo; a1 += hi; b0 += lo * lo; b1 += hi * hi;
                if (both)
                {
                    Unsafe.Add(ref ss, k) -= Vector.GreaterThanOrEqual(Vector.Abs(v - half), t49);
                    Unsafe.Add(ref st, k) -= Vector.GreaterThanOrEqual(Vector.Abs(v), t98);
                }
            }
            if (countEps)
                for (int k = 0; k < vc; k++) e -= Vector.LessThanOrEqual(Vector.Abs(Unsafe.Add(ref rv, k)), ev);
            if (sig && !both)
            {
                for (int k = 0; k < vc; k++) Unsafe.Add(ref ss, k) -= Vector.GreaterThanOrEqual(Vector.Abs(Unsafe.Add(ref rv, k) - half), t49);
            }
            if (tanh && !both)
            {
                for (int k = 0; k < vc; k++) Unsafe.Add(ref st, k) -= Vector.GreaterThanOrEqual(Vector.Abs(Unsafe.Add(ref rv, k)), t98);
            }
            s1 = Vector.Sum(a0 + a1); s2 = Vector.Sum(b0 + b1); sq = Vector.Sum(sqv);
            zeros = Vector.Sum(z); epsN = Vector.Sum(e);
            j = vc * w;
        }
        for (; j < n; j++)
        {
            float v = row[j];
            if (v > 0) u.Positive[j]++;
            if (v < u.Min[j]) u.Min[j] = v;
            if (v > u.Max[j]) u.Max[j] = v;
            if (sig && MathF.Abs(v - 0.5f) >= 0.49f) u.SatSigmoid[j]++;
            if (tanh && MathF.Abs(v) >= 0.98f) u.SatTanh[j]++;
            if (v == 0) zeros++;
            if (countEps && MathF.Abs(v) <= eps) epsN++;
            sq += (double)v * v;
            double dv = v - shift; s1 += dv; s2 += dv * dv;
        }
        acc.S1 += s1; acc.S2 += s2; acc.Zeros += zeros; acc.Eps += epsN;
        acc.MaxRowSq = Math.Max(acc.MaxRowSq, sq);
    }

    /// <summary>
    /// Whether every value is within 1% of an end of the activation's range: for a sigmoid |v - 0.5| &gt;= 0.49 (in
    /// [0, 0.01] or [0.99, 1]), for tanh |v| &gt;= 0.98 (the rule a dense unit's single value is judged by). NaN is not.
    /// </summary>
    internal static bool AllSaturated(ReadOnlySpan<float> values, bool sigmoid)
    {
        foreach (float v in values)
            if (!(sigmoid ? MathF.Abs(v - 0.5f) >= 0.49f : MathF.Abs(v) >= 0.98f)) return false;
        return true;
    }

    // Per-unit counters of a map's channel maxima: firing, min and max (saturation needs every position: see
    // AllSaturated). Vectorized across units.
    private static void AccumulateUnits(ReadOnlySpan<float> row, UnitCounters u)
    {
        int n = u.Positive.Length, j = 0;
        if (Vector.IsHardwareAccelerated && n >= Vector<float>.Count)
        {
            int w = Vector<float>.Count;
            var pos = MemoryMarshal.Cast<int, Vector<int>>(u.Positive.AsSpan());
            var mn = MemoryMarshal.Cast<float, Vector<float>>(u.Min.AsSpan());
            var mx = MemoryMarshal.Cast<float, Vector<float>>(u.Max.AsSpan());
            var rv = MemoryMarshal.Cast<float, Vector<float>>(row);
            int vc = n / w;
            for (int k = 0; k < vc; k++)
            {
                var v = rv[k];
                pos[k] -= Vector.GreaterThan(v, Vector<float>.Zero);
                mn[k] = Vector.Min(mn[k], v);
                mx[k] = Vector.Max(mx[k], v);
            }
            j = vc * w;
        }
        for (; j < n; j++)
        {
            float v = row[j];
            if (v > 0) u.Positive[j]++;
            if (v < u.Min[j]) u.Min[j] = v;
            if (v > u.Max[j]) u.Max[j] = v;
        }
    }

    /// <summary>The statistics so far. <paramref name="moduleType"/> resolves <see cref="UnitActivation.Auto"/>.</summary>
    public LayerUnitStats Result(string layer, double dyingThreshold = 0.01, string? moduleType = null,
        double saturationFraction = 0.99)
    {
        if (_nonFinite > 0) throw new ProbeException($"Layer '{layer}' received {_nonFinite} non-finite value(s) (NaN or infinity); refusing to compute statistics from them.");
        if (_samples == 0) throw new ProbeException($"Layer '{layer}' received no samples; there is nothing to analyse.");
        if (!(dyingThreshold >= 0 && dyingThreshold <= 1)) throw new ProbeException($"The dying threshold must be in [0, 1], got {dyingThreshold}.");
        float layerMin = float.PositiveInfinity, layerMax = float.NegativeInfinity;
        for (int j = 0; j < _units; j++) { layerMin = Math.Min(layerMin, _min[j]); layerMax = Math.Max(layerMax, _max[j]); }
        layerMin = Math.Min(layerMin, _spatialMin);   // spatial rows: their per-unit minima are of the channels' maxima
        var kind = _activation;
        if (kind == UnitActivation.Auto) kind = UnitActivations.FromModuleType(moduleType);
        if (kind == UnitActivation.Auto) kind = layerMin >= 0 ? UnitActivation.Rectified : UnitActivation.Linear;
        if (kind is UnitActivation.Sigmoid && _satSigmoid.Length == 0 || kind is UnitActivation.Tanh && _satTanh.Length == 0)
            throw new ProbeException($"Layer '{layer}' was accumulated as {_activation} and cannot be judged as {kind}.");

        var rates = new float[_units];
        for (int j = 0; j < _units; j++) rates[j] = (float)((double)_positive[j] / _samples);
        var satCounts = kind == UnitActivation.Sigmoid ? _satSigmoid : kind == UnitActivation.Tanh ? _satTanh : null;
        var satRates = new float[satCounts == null ? 0 : _units];
        for (int j = 0; j < satRates.Length; j++) satRates[j] = (float)((double)satCounts![j] / _samples);

        var dead = new List<int>(); var dying = new List<int>(); var saturated = new List<int>();
        for (int j = 0; j < _units; j++)
        {
            switch (kind)
            {
                case UnitActivation.Rectified:
                    if (_positive[j] == 0) dead.Add(j);
                    else if ((double)_positive[j] / _samples < dyingThreshold) dying.Add(j);
                    break;
                case UnitActivation.Linear:
                    // Exactly zero on every sample: of a map, every position (its min/max are of the channel maxima).
                    if (_min[j] == 0 && _max[j] == 0 && (_hiddenNegative.Length == 0 || _hiddenNegative[j] == 0)) dead.Add(j);
                    break;
                default:
                    if ((double)satCounts![j] / _samples > saturationFraction) saturated.Add(j);
                    break;
            }
        }
        double values = _values;
        return new LayerUnitStats(
            layer, kind, _samples, _units, _values,
            Sparsity: _zeros / values,
            Epsilon: _epsilon,
            EpsilonSparsity: _epsCount / values,
            Mean: _mean,
            Std: Math.Sqrt(_m2 / values),
            Min: layerMin, Max: layerMax,
            MaxRowNorm: Math.Sqrt(_maxRowNormSq),
            FiringRates: rates,
            UnitMin: (float[])_min.Clone(),
            UnitMax: (float[])_max.Clone(),
            SaturationRates: satRates,
            DeadUnits: [.. dead], DyingUnits: [.. dying], SaturatedUnits: [.. saturated],
            DeadFraction: dead.Count / (double)_units,
            DyingFraction: dying.Count / (double)_units,
            SaturatedFraction: saturated.Count / (double)_units);
    }
}

/// <summary>The state of a <see cref="UnitStatsAccumulator"/> (plain data, serialisable): per-unit counters and extremes, and layer sums.</summary>
public sealed record UnitStatsState(int Units, UnitActivation Activation, double Epsilon, int[] Positive, int[] SatSigmoid, int[] SatTanh,
    float[] Min, float[] Max, long Samples, long Values, long Zeros, long EpsCount, double Mean, double M2, double MaxRowNormSq,
    float? SpatialMin = null, int[]? HiddenNegative = null);
