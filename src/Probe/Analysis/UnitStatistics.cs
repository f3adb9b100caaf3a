using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

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
/// fields describe channels reduced by max over positions; the layer-wide fields describe every value seen.
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
/// and std are merged per batch (two-pass within a batch, Chan et al. merge across batches) in double precision.
/// </summary>
public sealed class UnitStatsAccumulator
{
    private readonly int _units;
    private readonly double _epsilon;
    private readonly UnitActivation _activation;
    private readonly int[] _positive;     // per unit: samples with a > 0
    private readonly int[] _satSigmoid;   // per unit: samples with |a - 0.5| >= 0.49 (within 1% of the ends of [0, 1])
    private readonly int[] _satTanh;      // per unit: samples with |a| >= 0.98 (within 1% of the ends of [-1, 1])
    private readonly float[] _min, _max;
    private long _samples, _values, _zeros, _epsCount;
    private double _mean, _m2, _maxRowNormSq;
    private float[]? _reduced;

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
        _min = new float[units]; _max = new float[units];
        Array.Fill(_min, float.PositiveInfinity); Array.Fill(_max, float.NegativeInfinity);
    }

    public int Units => _units;
    public long Samples => _samples;

    /// <summary>Adds a batch: one row per sample, one column per unit.</summary>
    public void Add(Matrix batch)
    {
        ArgumentNullException.ThrowIfNull(batch);
        if (batch.Cols != _units) throw new ProbeException($"A batch has {batch.Cols} columns but the layer has {_units} units.");
        if (batch.Rows == 0) return;
        if (_samples + batch.Rows > int.MaxValue) throw new ProbeException("More than 2^31 samples in one layer are not supported.");
        var data = batch.Data.AsSpan(0, batch.Rows * _units);
        double sum = 0; long zeros = 0, eps = 0; double maxRowSq = 0;
        for (int r = 0; r < batch.Rows; r++)
        {
            var row = data.Slice(r * _units, _units);
            AccumulateUnits(row);
            var (s, z, e, sq) = RowStats(row, (float)_epsilon, _epsilon > 0);
            sum += s; zeros += z; eps += e; maxRowSq = Math.Max(maxRowSq, sq);
        }
        Merge(data, batch.Rows, sum, zeros, eps, maxRowSq, batch);
    }

    /// <summary>
    /// Adds a batch of spatial maps: each row holds <see cref="Units"/> channels x <paramref name="positions"/>
    /// values, channel-major. Rule: a channel fires on a sample when any of its positions is &gt; 0 (reduction by max);
    /// its per-unit min/max/saturation use the same max-reduced value. Sparsity, mean, std, min and max use every value.
    /// </summary>
    public void AddSpatial(Matrix batch, int positions)
    {
        ArgumentNullException.ThrowIfNull(batch);
        if (positions <= 0) throw new ProbeException($"Positions per channel must be positive, got {positions}.");
        if (batch.Cols != (long)_units * positions)
            throw new ProbeException($"A spatial batch needs {_units} channels x {positions} positions = {(long)_units * positions} columns, got {batch.Cols}.");
        if (batch.Rows == 0) return;
        _reduced ??= new float[_units];
        var data = batch.Data.AsSpan(0, batch.Rows * batch.Cols);
        double sum = 0; long zeros = 0, eps = 0; double maxRowSq = 0;
        for (int r = 0; r < batch.Rows; r++)
        {
            var row = data.Slice(r * batch.Cols, batch.Cols);
            for (int c = 0; c < _units; c++) _reduced[c] = TensorPrimitivesMax(row.Slice(c * positions, positions));
            AccumulateUnits(_reduced);
            var (s, z, e, sq) = RowStats(row, (float)_epsilon, _epsilon > 0);
            sum += s; zeros += z; eps += e; maxRowSq = Math.Max(maxRowSq, sq);
        }
        Merge(data, batch.Rows, sum, zeros, eps, maxRowSq, batch);
    }

    private static float TensorPrimitivesMax(ReadOnlySpan<float> x)
    {
        float m = float.NegativeInfinity;
        foreach (var v in x) m = v > m ? v : m;
        return m;
    }

    private void Merge(ReadOnlySpan<float> data, int rows, double sum, long zeros, long eps, double maxRowSq, Matrix batch)
    {
        if (!double.IsFinite(sum)) { batch.EnsureFinite("An activation batch"); throw new ProbeException("An activation batch overflowed double precision."); }
        long n = data.Length;
        double mean = sum / n;
        double m2 = SumSquaredDeviations(data, mean);
        // Chan, Golub & LeVeque: merge (n_a, mean_a, M2_a) with (n_b, mean_b, M2_b).
        long total = _values + n;
        double delta = mean - _mean;
        _m2 = _m2 + m2 + delta * delta * ((double)_values * n / total);
        _mean += delta * n / total;
        _values = total;
        _samples += rows;
        _zeros += zeros;
        _epsCount += _epsilon > 0 ? eps : zeros;
        _maxRowNormSq = Math.Max(_maxRowNormSq, maxRowSq);
    }

    // Per-unit counters: firing, min, max and (when needed) saturation. Vectorized across units.
    private void AccumulateUnits(ReadOnlySpan<float> row)
    {
        int n = _units, j = 0;
        bool sig = _satSigmoid.Length > 0, tanh = _satTanh.Length > 0;
        if (Vector.IsHardwareAccelerated && n >= Vector<float>.Count)
        {
            int w = Vector<float>.Count;
            var pos = MemoryMarshal.Cast<int, Vector<int>>(_positive.AsSpan());
            var mn = MemoryMarshal.Cast<float, Vector<float>>(_min.AsSpan());
            var mx = MemoryMarshal.Cast<float, Vector<float>>(_max.AsSpan());
            var rv = MemoryMarshal.Cast<float, Vector<float>>(row);
            var half = new Vector<float>(0.5f); var t49 = new Vector<float>(0.49f); var t98 = new Vector<float>(0.98f);
            Span<Vector<int>> ss = sig ? MemoryMarshal.Cast<int, Vector<int>>(_satSigmoid.AsSpan()) : default;
            Span<Vector<int>> st = tanh ? MemoryMarshal.Cast<int, Vector<int>>(_satTanh.AsSpan()) : default;
            int vc = n / w;
            for (int k = 0; k < vc; k++)
            {
                var v = rv[k];
                pos[k] -= Vector.GreaterThan(v, Vector<float>.Zero);
                mn[k] = Vector.Min(mn[k], v);
                mx[k] = Vector.Max(mx[k], v);
                if (sig) ss[k] -= Vector.GreaterThanOrEqual(Vector.Abs(v - half), t49);
                if (tanh) st[k] -= Vector.GreaterThanOrEqual(Vector.Abs(v), t98);
            }
            j = vc * w;
        }
        for (; j < n; j++)
        {
            float v = row[j];
            if (v > 0) _positive[j]++;
            if (v < _min[j]) _min[j] = v;
            if (v > _max[j]) _max[j] = v;
            if (sig && MathF.Abs(v - 0.5f) >= 0.49f) _satSigmoid[j]++;
            if (tanh && MathF.Abs(v) >= 0.98f) _satTanh[j]++;
        }
    }

    // Sum (double), exact zeros, |a| <= eps count, squared norm of one row.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static (double Sum, long Zeros, long Eps, double SqNorm) RowStats(ReadOnlySpan<float> row, float eps, bool countEps)
    {
        int j = 0;
        double sum = 0, sq = 0; long zeros = 0, epsN = 0;
        if (Vector.IsHardwareAccelerated && row.Length >= Vector<float>.Count)
        {
            var rv = MemoryMarshal.Cast<float, Vector<float>>(row);
            Vector<double> s0 = Vector<double>.Zero, s1 = Vector<double>.Zero;
            Vector<float> sqv = Vector<float>.Zero;
            Vector<int> z = Vector<int>.Zero, e = Vector<int>.Zero;
            var ev = new Vector<float>(eps);
            for (int k = 0; k < rv.Length; k++)
            {
                var v = rv[k];
                Vector.Widen(v, out var lo, out var hi);
                s0 += lo; s1 += hi;
                sqv += v * v;
                z -= Vector.Equals(v, Vector<float>.Zero);
                if (countEps) e -= Vector.LessThanOrEqual(Vector.Abs(v), ev);
            }
            sum = Vector.Sum(s0 + s1);
            sq = Vector.Sum(sqv);
            zeros = Vector.Sum(z);
            epsN = Vector.Sum(e);
            j = rv.Length * Vector<float>.Count;
        }
        for (; j < row.Length; j++)
        {
            float v = row[j];
            sum += v; sq += (double)v * v;
            if (v == 0) zeros++;
            if (countEps && MathF.Abs(v) <= eps) epsN++;
        }
        return (sum, zeros, epsN, sq);
    }

    private static double SumSquaredDeviations(ReadOnlySpan<float> data, double mean)
    {
        int j = 0; double acc = 0;
        if (Vector.IsHardwareAccelerated && data.Length >= Vector<float>.Count)
        {
            var rv = MemoryMarshal.Cast<float, Vector<float>>(data);
            var mv = new Vector<double>(mean);
            Vector<double> a0 = Vector<double>.Zero, a1 = Vector<double>.Zero;
            for (int k = 0; k < rv.Length; k++)
            {
                Vector.Widen(rv[k], out var lo, out var hi);
                var d0 = lo - mv; var d1 = hi - mv;
                a0 += d0 * d0; a1 += d1 * d1;
            }
            acc = Vector.Sum(a0 + a1);
            j = rv.Length * Vector<float>.Count;
        }
        for (; j < data.Length; j++) { double d = data[j] - mean; acc += d * d; }
        return acc;
    }

    /// <summary>The statistics so far. <paramref name="moduleType"/> resolves <see cref="UnitActivation.Auto"/>.</summary>
    public LayerUnitStats Result(string layer, double dyingThreshold = 0.01, string? moduleType = null,
        double saturationFraction = 0.99)
    {
        if (_samples == 0) throw new ProbeException($"Layer '{layer}' received no samples; there is nothing to analyse.");
        if (!(dyingThreshold >= 0 && dyingThreshold <= 1)) throw new ProbeException($"The dying threshold must be in [0, 1], got {dyingThreshold}.");
        float layerMin = float.PositiveInfinity, layerMax = float.NegativeInfinity;
        for (int j = 0; j < _units; j++) { layerMin = Math.Min(layerMin, _min[j]); layerMax = Math.Max(layerMax, _max[j]); }
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
                    if (_min[j] == 0 && _max[j] == 0) dead.Add(j);
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
