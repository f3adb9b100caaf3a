using TorchSharp;
using static TorchSharp.torch;
using Probe.Native;

namespace Probe.Projection;

/// <summary>How <see cref="Pca"/> computes its components.</summary>
public enum PcaSolver
{
    /// <summary>Exact for small problems, randomized when both dimensions exceed 1,000 and few components are asked for.</summary>
    Auto,
    /// <summary>Eigendecomposition of the centred covariance (or Gram) matrix in double precision.</summary>
    Exact,
    /// <summary>Randomized SVD (Halko, Martinsson &amp; Tropp 2011): Gaussian sketch with 10 extra columns, QR power iterations.</summary>
    Randomized,
}

/// <summary>
/// Principal component analysis over a <see cref="Matrix"/> (rows = samples). Signs follow scikit-learn's
/// <c>svd_flip</c> on the components: the entry of largest magnitude in each component is positive.
/// </summary>
public sealed record Pca(int Components = 2, PcaSolver Solver = PcaSolver.Auto, int Seed = 0)
{
    /// <summary>
    /// Where the large products and the randomized solver run (<c>cpu</c>, <c>auto</c>, <c>cuda[:N]</c>): the centred
    /// input is moved there once; the components come back to the CPU. Small problems (the smaller side at most 256)
    /// are solved on the CPU whatever the device. A CUDA request fails where libtorch has no CUDA.
    /// </summary>
    public Probe.Capture.ComputeDevice Device { get; init; } = Probe.Capture.ComputeDevice.Cpu;

    // The libtorch device of the torch paths; null for the CPU (so a small problem never touches libtorch).
    private Device? TorchDevice() => Device.Kind == Probe.Capture.DeviceKind.Cpu ? null : Device.Resolve().ToTorch();

    /// <summary>Extra sketch columns of the randomized solver.</summary>
    public const int Oversampling = 10;

    /// <summary>Fits the components to <paramref name="x"/>.</summary>
    public PcaResult Fit(Matrix x)
    {
        ArgumentNullException.ThrowIfNull(x);
        x.EnsureNotEmpty("The PCA input").EnsureFinite("The PCA input");
        if (x.Rows < 2) throw new ProbeException($"PCA needs at least 2 samples, got {x.Rows}.");
        int maxK = Math.Min(x.Rows, x.Cols);
        if (Components < 1 || Components > maxK)
            throw new ProbeException($"PCA components must be between 1 and min(samples, features) = {maxK}, got {Components}.");
        var device = TorchDevice(); // a CUDA request fails here where CUDA is absent, whichever solver runs
        var solver = ChooseSolver(x.Rows, x.Cols);
        var mean = ColumnMeans(x);
        return solver == PcaSolver.Exact ? FitExact(x, mean, device) : FitRandomized(x, mean, device);
    }

    /// <summary>Fits and returns the projection of <paramref name="x"/> onto the components.</summary>
    public Matrix FitTransform(Matrix x) => Fit(x).Transform(x);

    /// <summary>The solver <see cref="PcaSolver.Auto"/> resolves to for an n x d input.</summary>
    public PcaSolver ChooseSolver(int n, int d)
    {
        if (Solver != PcaSolver.Auto) return Solver;
        int m = Math.Min(n, d);
        return m <= 1000 || Components >= 0.8 * m ? PcaSolver.Exact : PcaSolver.Randomized;
    }

    static double[] ColumnMeans(Matrix x)
    {
        var mean = new double[x.Cols];
        for (int i = 0; i < x.Rows; i++)
        {
            var row = x.Row(i);
            for (int j = 0; j < row.Length; j++) mean[j] += row[j];
        }
        for (int j = 0; j < mean.Length; j++) mean[j] /= x.Rows;
        return mean;
    }

    PcaResult FitExact(Matrix x, double[] mean, Device? device)
    {
        int n = x.Rows, d = x.Cols, k = Components;
        bool gram = d > n; // eigendecompose the smaller of X^T X (d x d) and X X^T (n x n)
        int m = gram ? n : d;
        double[] sym;
        if (m <= 256)
            sym = gram ? SmallGram(x, mean) : SmallCovariance(x, mean);
        else
            sym = TorchProduct(x, mean, gram, device ?? CPU);
        var (values, vectors) = m <= 256 ? SymmetricEigen.Jacobi(sym, m) : SymmetricEigen.Torch(sym, m);
        // values descending, vectors[c] = unit eigenvector c (length m).
        double total = 0;
        for (int c = 0; c < m; c++) total += Math.Max(values[c], 0);
        var comps = new double[k][];
        var ev = new double[k];
        for (int c = 0; c < k; c++)
        {
            double lambda = Math.Max(values[c], 0);
            ev[c] = lambda / (n - 1);
            if (!gram) comps[c] = vectors[c];
            else
            {
                // component = Xc^T u / ||Xc^T u||
                var v = new double[d];
                for (int i = 0; i < n; i++)
                {
                    double ui = vectors[c][i];
                    var row = x.Row(i);
                    for (int j = 0; j < d; j++) v[j] += ui * (row[j] - mean[j]);
                }
                Normalize(v);
                comps[c] = v;
            }
        }
        double totalVar = total / (n - 1);
        return Build(comps, ev, totalVar, mean, n, PcaSolver.Exact);
    }

    PcaResult Build(double[][] comps, double[] ev, double totalVar, double[] mean, int n, PcaSolver used)
    {
        foreach (var c in comps) SignFlip(c);
        var ratio = ev.Select(v => totalVar > 0 ? v / totalVar : 0).ToArray();
        return new PcaResult(comps, ev, ratio, mean, totalVar, n, used);
    }

    static void Normalize(double[] v)
    {
        double s = 0;
        foreach (var a in v) s += a * a;
        s = Math.Sqrt(s);
        if (s > 0) for (int j = 0; j < v.Length; j++) v[j] /= s;
    }

    /// <summary>scikit-learn's svd_flip convention on a component: its largest-|value| entry becomes positive.</summary>
    internal static void SignFlip(double[] c)
    {
        int arg = 0;
        for (int j = 1; j < c.Length; j++) if (Math.Abs(c[j]) > Math.Abs(c[arg])) arg = j;
        if (c[arg] < 0) for (int j = 0; j < c.Length; j++) c[j] = -c[j];
    }

    static double[] SmallCovariance(Matrix x, double[] mean)
    {
        int n = x.Rows, d = x.Cols;
        var cov = new double[d * d];
        var r = new double[d];
        for (int i = 0; i < n; i++)
        {
            var row = x.Row(i);
            for (int j = 0; j < d; j++) r[j] = row[j] - mean[j];
            for (int a = 0; a < d; a++)
            {
                double ra = r[a];
                if (ra == 0) continue;
                int off = a * d;
                for (int b = a; b < d; b++) cov[off + b] += ra * r[b];
            }
        }
        for (int a = 0; a < d; a++) for (int b = a + 1; b < d; b++) cov[b * d + a] = cov[a * d + b];
        return cov;
    }

    static double[] SmallGram(Matrix x, double[] mean)
    {
        int n = x.Rows, d = x.Cols;
        var c = new double[n * d];
        for (int i = 0; i < n; i++) for (int j = 0; j < d; j++) c[i * d + j] = x.Data[i * d + j] - mean[j];
        var g = new double[n * n];
        for (int a = 0; a < n; a++)
            for (int b = a; b < n; b++)
            {
                double s = 0;
                for (int j = 0; j < d; j++) s += c[a * d + j] * c[b * d + j];
                g[a * n + b] = s; g[b * n + a] = s;
            }
        return g;
    }

    static double[] TorchProduct(Matrix x, double[] mean, bool gram, Device device)
    {
        using var scope = NewDisposeScope();
        var xt = tensor(x.Data, new long[] { x.Rows, x.Cols }).to(ScalarType.Float64, device);
        xt.sub_(tensor(mean, new long[] { 1, x.Cols }, device: device));
        var p = gram ? xt.mm(xt.t()) : xt.t().mm(xt);
        return p.cpu().Values<double>();
    }

    PcaResult FitRandomized(Matrix x, double[] mean, Device? device)
    {
        int n = x.Rows, d = x.Cols, k = Components;
        int l = Math.Min(k + Oversampling, Math.Min(n, d));
        int powerIters = k < 0.1 * Math.Min(n, d) ? 7 : 4;
        // double precision when the matrix is modest, float32 for very large inputs (memory), documented on the enum.
        var dtype = (long)n * d <= (1L << 25) ? ScalarType.Float64 : ScalarType.Float32;
        double[][] comps; double[] ev;
        using (var scope = NewDisposeScope())
        {
            // tensor(float[]) shares the caller's array and to_type(Float32) is a no-op: copy before centring in place.
            var on = device ?? CPU;
            var xt = tensor(x.Data, new long[] { n, d }).to(dtype, on, copy: true);
            xt.sub_(tensor(mean, new long[] { 1, d }).to(dtype, on));
            var omega = tensor(Gaussian(d * l, Seed), new long[] { d, l }).to(dtype, on);
            var q = linalg.qr(xt.mm(omega)).Q;
            for (int it = 0; it < powerIters; it++)
            {
                var z = linalg.qr(xt.t().mm(q)).Q;
                q = linalg.qr(xt.mm(z)).Q;
            }
            var b = q.t().mm(xt).to(ScalarType.Float64, CPU);
            var (_, s, vh) = linalg.svd(b, fullMatrices: false);
            var sv = s.Values<double>();
            var vv = vh.Values<double>();
            comps = new double[k][];
            ev = new double[k];
            for (int c = 0; c < k; c++)
            {
                comps[c] = new double[d];
                Array.Copy(vv, (long)c * d, comps[c], 0, d);
                ev[c] = sv[c] * sv[c] / (n - 1);
            }
        }
        double totalVar = 0;
        var colVar = new double[d];
        for (int i = 0; i < n; i++)
        {
            var row = x.Row(i);
            for (int j = 0; j < d; j++) { double t = row[j] - mean[j]; colVar[j] += t * t; }
        }
        foreach (var v in colVar) totalVar += v;
        totalVar /= n - 1;
        return Build(comps, ev, totalVar, mean, n, PcaSolver.Randomized);
    }

    /// <summary>Standard normal samples from a seeded <see cref="Random"/> (Box-Muller), as float32.</summary>
    internal static float[] Gaussian(int count, int seed)
    {
        var rng = new Random(seed);
        var g = new float[count];
        for (int i = 0; i < count; i += 2)
        {
            double u1 = 1.0 - rng.NextDouble(), u2 = rng.NextDouble();
            double r = Math.Sqrt(-2.0 * Math.Log(u1));
            g[i] = (float)(r * Math.Cos(2 * Math.PI * u2));
            if (i + 1 < count) g[i + 1] = (float)(r * Math.Sin(2 * Math.PI * u2));
        }
        return g;
    }
}

/// <summary>A fitted PCA: unit-norm components (rows), their explained variances and ratios, and the input mean.</summary>
public sealed record PcaResult(
    double[][] Components,
    double[] ExplainedVariance,
    double[] ExplainedVarianceRatio,
    double[] Mean,
    double TotalVariance,
    int Samples,
    PcaSolver Solver)
{
    /// <summary>Projects <paramref name="x"/> (same feature count as the fit) onto the components: (X - mean) C^T.</summary>
    public Matrix Transform(Matrix x)
    {
        ArgumentNullException.ThrowIfNull(x);
        x.EnsureFinite("The PCA transform input");
        int d = Mean.Length, k = Components.Length;
        if (x.Cols != d) throw new ProbeException($"This PCA was fitted on {d} features; the matrix to transform has {x.Cols}.");
        var y = new Matrix(x.Rows, k);
        // rows are independent: parallel with per-row results, so the output does not depend on scheduling
        Parallel.For(0, x.Rows, () => new double[d], (i, _, r) =>
        {
            var row = x.Row(i);
            for (int j = 0; j < d; j++) r[j] = row[j] - Mean[j];
            for (int c = 0; c < k; c++)
            {
                var comp = Components[c];
                double s = 0;
                for (int j = 0; j < d; j++) s += r[j] * comp[j];
                y.Data[i * k + c] = (float)s;
            }
            return r;
        }, _ => { });
        return y;
    }
}
