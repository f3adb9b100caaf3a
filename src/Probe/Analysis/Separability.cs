using System.Numerics;
using System.Runtime.InteropServices;
using Probe.Capture;

namespace Probe.Analysis;

/// <summary>
/// Class separability of one layer (plain data). Ratio = Between / (Within + 1e-10) with
/// Between = sum_c n_c ||mu_c - mu||^2 / N and Within = the unweighted mean over classes of the mean squared distance
/// of a class's samples to mu_c. FisherTraceRatio (when requested) = tr(R_w^-1 R_b), see <see cref="SeparabilityAnalyzer"/>.
/// </summary>
public sealed record SeparabilityResult(
    string Layer, double Ratio, double Between, double Within, long Samples, int Features, int[] Classes, long[] ClassCounts,
    double? FisherTraceRatio, double? FisherLambda, int? FisherDroppedFeatures);

/// <summary>
/// Settings of the separability analysis. <see cref="Fisher"/> also computes the multivariate, scale-invariant
/// criterion tr((S_w + Lambda diag(S_w))^-1 S_b) with S_w the pooled within-class scatter and S_b the between-class
/// scatter; the ridge is relative to each feature's own within-class scatter, so rescaling any feature leaves the value
/// unchanged. Features with zero within-class scatter (constant in every class) are dropped and counted. The pooled
/// scatter costs Features^2 doubles of memory and O(N Features^2) time.
/// </summary>
public sealed record SeparabilityAnalyzer(bool Fisher = false, double FisherLambda = 1e-3)
{
    /// <summary>One-shot analysis of one matrix (rows = samples) with one label per row.</summary>
    public SeparabilityResult Run(Matrix features, IReadOnlyList<int> labels, string layer = "")
    {
        var acc = new SeparabilityAccumulator(features.Cols, Fisher);
        acc.Add(features, labels);
        return acc.Result(layer, FisherLambda);
    }

    /// <summary>Starts a streaming analysis over captured batches (the batches must carry labels).</summary>
    public SeparabilitySession Start() => new(this);
}

/// <summary>A streaming separability analysis with one accumulator per layer.</summary>
public sealed class SeparabilitySession : IActivationConsumer
{
    private readonly SeparabilityAnalyzer _settings;
    private readonly Dictionary<string, SeparabilityAccumulator> _acc = new(StringComparer.Ordinal);
    private readonly List<string> _order = [];

    internal SeparabilitySession(SeparabilityAnalyzer settings) => _settings = settings;

    /// <summary>Adds a batch of one layer with its labels.</summary>
    public void Add(string layer, Matrix batch, IReadOnlyList<int> labels)
    {
        if (!_acc.TryGetValue(layer, out var a))
        {
            _acc[layer] = a = new SeparabilityAccumulator(batch.Cols, _settings.Fisher);
            _order.Add(layer);
        }
        a.Add(batch, labels);
    }

    /// <inheritdoc/>
    public void OnBatch(ActivationBatch batch)
    {
        if (batch.Labels == null) throw new ProbeException("Class separability needs labels, but the captured batches carry none.");
        foreach (var (name, m) in batch.Outputs) Add(name, m, batch.Labels);
    }

    /// <summary>The results of every layer, in the order first seen.</summary>
    public SeparabilityResult[] Result() => _order.Select(n => _acc[n].Result(n, _settings.FisherLambda)).ToArray();
}

/// <summary>
/// Streaming per-class statistics in double precision: counts, means and sums of squared distances to the class mean
/// (merged per batch with Chan et al.'s formula), and optionally the pooled within-class scatter matrix.
/// </summary>
public sealed class SeparabilityAccumulator
{
    private sealed class ClassStats(int d)
    {
        public long N;
        public readonly double[] Mean = new double[d];
        public double M2;
    }

    private readonly int _d;
    private readonly double[]? _scatter; // upper triangle used, row-major d x d
    private readonly SortedDictionary<int, ClassStats> _classes = [];
    private double[] _diff = [];

    /// <summary>Creates an accumulator for <paramref name="features"/> columns; <paramref name="scatter"/> keeps the pooled scatter for the Fisher criterion.</summary>
    public SeparabilityAccumulator(int features, bool scatter = false)
    {
        if (features <= 0) throw new ProbeException($"Separability needs at least one feature, got {features}.");
        _d = features;
        if (scatter) _scatter = new double[checked(features * features)];
    }

    /// <summary>Adds a batch (rows = samples) with one label per row.</summary>
    public void Add(Matrix batch, IReadOnlyList<int> labels)
    {
        ArgumentNullException.ThrowIfNull(batch); ArgumentNullException.ThrowIfNull(labels);
        if (batch.Cols != _d) throw new ProbeException($"A batch has {batch.Cols} columns; the accumulator was created for {_d}.");
        if (labels.Count != batch.Rows) throw new ProbeException($"{labels.Count} labels for {batch.Rows} samples.");
        if (batch.Rows == 0) return;
        batch.EnsureFinite("The activations for class separability");
        var groups = new SortedDictionary<int, List<int>>();
        for (int i = 0; i < batch.Rows; i++)
        {
            if (!groups.TryGetValue(labels[i], out var g)) groups[labels[i]] = g = [];
            g.Add(i);
        }
        var mb = new double[_d];
        if (_diff.Length < _d) _diff = new double[_d];
        foreach (var (label, rows) in groups)
        {
            Array.Clear(mb);
            foreach (var i in rows) { var r = batch.Row(i); for (int j = 0; j < _d; j++) mb[j] += r[j]; }
            int nb = rows.Count;
            for (int j = 0; j < _d; j++) mb[j] /= nb;
            double m2b = 0;
            foreach (var i in rows)
            {
                var r = batch.Row(i);
                for (int j = 0; j < _d; j++) { double v = r[j] - mb[j]; _diff[j] = v; m2b += v * v; }
                if (_scatter != null) RankOne(_scatter, _diff, 1.0);
            }
            if (!_classes.TryGetValue(label, out var c)) _classes[label] = c = new ClassStats(_d);
            long n = c.N + nb;
            double w = (double)c.N * nb / n, dd = 0;
            for (int j = 0; j < _d; j++) { double v = mb[j] - c.Mean[j]; _diff[j] = v; dd += v * v; }
            c.M2 += m2b + dd * w;
            if (_scatter != null && c.N > 0) RankOne(_scatter, _diff, w);
            for (int j = 0; j < _d; j++) c.Mean[j] += _diff[j] * nb / n;
            c.N = n;
        }
    }

    // S[i, j>=i] += a * v_i * v_j
    private void RankOne(double[] s, double[] v, double a)
    {
        for (int i = 0; i < _d; i++)
        {
            double vi = a * v[i];
            if (vi == 0) continue;
            var row = s.AsSpan(i * _d + i, _d - i);
            var src = v.AsSpan(i, _d - i);
            int j = 0;
            if (Vector.IsHardwareAccelerated && row.Length >= Vector<double>.Count)
            {
                var rv = MemoryMarshal.Cast<double, Vector<double>>(row);
                var sv = MemoryMarshal.Cast<double, Vector<double>>(src);
                var f = new Vector<double>(vi);
                for (int k = 0; k < rv.Length; k++) rv[k] += f * sv[k];
                j = rv.Length * Vector<double>.Count;
            }
            for (; j < row.Length; j++) row[j] += vi * src[j];
        }
    }

    /// <summary>The separability so far (and the Fisher criterion when the scatter is kept).</summary>
    public SeparabilityResult Result(string layer = "", double fisherLambda = 1e-3)
    {
        if (_classes.Count < 2) throw new UndefinedForDataException($"Layer '{layer}': class separability needs at least two classes, got {_classes.Count}.");
        foreach (var (label, c) in _classes)
            if (c.N < 2) throw new UndefinedForDataException($"Layer '{layer}': class {label} has a single sample, so its within-class variance is undefined; drop it or add samples.");
        long total = _classes.Values.Sum(c => c.N);
        var mu = new double[_d];
        foreach (var c in _classes.Values) for (int j = 0; j < _d; j++) mu[j] += c.Mean[j] * c.N;
        for (int j = 0; j < _d; j++) mu[j] /= total;
        double between = 0, within = 0;
        foreach (var c in _classes.Values)
        {
            double dd = 0;
            for (int j = 0; j < _d; j++) { double v = c.Mean[j] - mu[j]; dd += v * v; }
            between += c.N * dd;
            within += c.M2 / c.N;
        }
        between /= total; within /= _classes.Count;
        double? fisher = null; int? dropped = null;
        if (_scatter != null)
        {
            if (!(fisherLambda >= 0) || double.IsInfinity(fisherLambda)) throw new ProbeException($"The Fisher ridge lambda must be finite and >= 0, got {fisherLambda}.");
            (fisher, dropped) = FisherTrace(mu, fisherLambda, layer);
        }
        return new SeparabilityResult(layer, between / (within + 1e-10), between, within, total, _d,
            [.. _classes.Keys], [.. _classes.Values.Select(c => c.N)], fisher, _scatter != null ? fisherLambda : null, dropped);
    }

    /// <summary>
    /// The number of features that vary within some class (a sample differs from its class's first sample): those the
    /// Fisher criterion keeps (a feature with zero within-class scatter is dropped). One pass, no scatter.
    /// </summary>
    internal static int VaryingWithinClasses(Matrix x, IReadOnlyList<int> labels)
    {
        if (labels.Count != x.Rows) throw new ProbeException($"{labels.Count} labels for {x.Rows} samples.");
        var first = new Dictionary<int, int>();
        var varies = new bool[x.Cols];
        int count = 0;
        for (int r = 0; r < x.Rows && count < x.Cols; r++)
        {
            if (!first.TryGetValue(labels[r], out int f)) { first[labels[r]] = r; continue; }
            var row = x.Data.AsSpan(r * x.Cols, x.Cols);
            var head = x.Data.AsSpan(f * x.Cols, x.Cols);
            for (int j = 0; j < row.Length; j++)
                if (!varies[j] && !row[j].Equals(head[j])) { varies[j] = true; count++; }
        }
        return count;
    }

    /// <summary>
    /// Why the Fisher criterion is undefined for <paramref name="features"/> varying features and <paramref name="dof"/>
    /// within-class degrees of freedom (samples - classes): the within-class scatter has rank at most dof, so with more
    /// features it is singular and the ridged ratio would measure the ridge, not the classes (and cost features^3 time).
    /// </summary>
    internal static string FisherUndefined(string layer, long features, long dof) =>
        $"Layer '{layer}': {features} features but {dof} within-class degrees of freedom (samples - classes); the within-class scatter is singular, so the Fisher criterion is undefined (a ridged value would measure the ridge). Use more samples or fewer features (e.g. maps reduced by their mean).";

    private (double, int) FisherTrace(double[] mu, double lambda, string layer)
    {
        var s = _scatter!;
        var keep = Enumerable.Range(0, _d).Where(i => s[i * _d + i] > 0).ToArray();
        int k = keep.Length;
        if (k == 0) throw new ProbeException($"Layer '{layer}': every feature is constant within every class; the Fisher criterion is undefined.");
        long dof = _classes.Values.Sum(c => c.N) - _classes.Count;
        if (k > dof) throw new ProbeException(FisherUndefined(layer, k, dof));
        var scale = keep.Select(i => 1.0 / Math.Sqrt(s[i * _d + i])).ToArray();
        // R = D^-1/2 S_w D^-1/2 + lambda I (unit diagonal before the ridge), lower triangle, then Cholesky in place.
        var r = new double[k * k];
        for (int a = 0; a < k; a++)
            for (int b = 0; b <= a; b++)
            {
                int i = keep[b], j = keep[a];  // i <= j: upper triangle of S
                r[a * k + b] = s[i * _d + j] * scale[a] * scale[b] + (a == b ? lambda : 0);
            }
        for (int j = 0; j < k; j++)
        {
            double diag = r[j * k + j];
            for (int p = 0; p < j; p++) diag -= r[j * k + p] * r[j * k + p];
            if (!(diag > 1e-13)) throw new ProbeException($"Layer '{layer}': the within-class scatter is singular (collinear features); use a larger Fisher lambda (now {lambda}).");
            double l = Math.Sqrt(diag);
            r[j * k + j] = l;
            for (int i = j + 1; i < k; i++)
            {
                double v = r[i * k + j];
                var ri = r.AsSpan(i * k, j); var rj = r.AsSpan(j * k, j);
                for (int p = 0; p < j; p++) v -= ri[p] * rj[p];
                r[i * k + j] = v / l;
            }
        }
        // tr(R^-1 B) with B = sum_c n_c m_c m_c^T (scaled) = sum_c n_c ||L^-1 m_c||^2.
        double trace = 0; var y = new double[k];
        foreach (var c in _classes.Values)
        {
            for (int i = 0; i < k; i++)
            {
                double v = (c.Mean[keep[i]] - mu[keep[i]]) * scale[i];
                for (int p = 0; p < i; p++) v -= r[i * k + p] * y[p];
                y[i] = v / r[i * k + i];
            }
            double q = 0; foreach (var v in y) q += v * v;
            trace += c.N * q;
        }
        return (trace, _d - k);
    }
}

/// <summary>
/// The data's labels cannot support a measure (one class only, or a class of a single sample): not a fault of the model
/// or of the values, so a caller running several analyses (the report) may leave this one out with the reason.
/// </summary>
public sealed class UndefinedForDataException(string message) : ProbeException(message);
