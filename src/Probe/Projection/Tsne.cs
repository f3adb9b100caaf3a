using System.Runtime.CompilerServices;
using System.Diagnostics;

namespace Probe.Projection;

/// <summary>How <see cref="Tsne"/> computes the repulsive forces.</summary>
public enum TsneMethod
{
    /// <summary>Exact below <see cref="Tsne.ExactThreshold"/> samples, Barnes-Hut up to <see cref="Tsne.FftThreshold"/> (see there), FFT interpolation above.</summary>
    Auto,
    /// <summary>All O(n^2) pairs every iteration.</summary>
    Exact,
    /// <summary>Barnes-Hut quadtree approximation with opening angle <see cref="Tsne.Theta"/>.</summary>
    BarnesHut,
    /// <summary>FFT-accelerated interpolation on a grid (Linderman et al. 2019, as FIt-SNE and openTSNE), O(n) per iteration.</summary>
    Fft,
}

/// <summary>
/// t-SNE (van der Maaten &amp; Hinton 2008; Barnes-Hut: van der Maaten 2014) with the schedule of openTSNE:
/// PCA to <see cref="PcaDimensions"/> dims when wider; sparse P over the 3 x perplexity nearest neighbours;
/// PCA initialisation scaled to std 1e-4 on its first axis (unless <see cref="Init"/> is given: used as is, or scaled the
/// same way when <see cref="RescaleInit"/>, which keeps its shape but restarts the spread, as openTSNE recommends);
/// <see cref="ExaggerationIterations"/> iterations with exaggeration <see cref="Exaggeration"/> and momentum 0.5,
/// then the rest with exaggeration 1 and momentum 0.8; delta-bar-delta gains (+0.2 / x0.8, min 0.01), reset at the
/// phase change as scikit-learn. The gradient carries scikit-learn's factor 4, and the learning rate is in
/// scikit-learn units: 'auto' (null) = max(n / exaggeration / 4, 50) evaluated per phase, i.e. n/48 during early
/// exaggeration and n/4 after (openTSNE's n/12 then n). Work is split over all cores with a fixed partition and
/// fixed-order sums, so a seed gives the same embedding bit for bit on a given machine.
/// </summary>
public sealed record Tsne(
    double Perplexity = 30,
    int Iterations = 750,
    double Theta = 0.5,
    TsneMethod Method = TsneMethod.Auto,
    int Seed = 0,
    Matrix? Init = null,
    double Exaggeration = 12,
    int ExaggerationIterations = 250,
    double? LearningRate = null,
    int PcaDimensions = 50,
    int KlEvery = 50,
    bool RescaleInit = false)
{
    /// <summary>Stops the optimisation between iterations when cancelled.</summary>
    public CancellationToken Cancellation { get; init; }

    /// <summary>Called after each optimisation iteration with (iterations done, iterations in all), for progress displays.</summary>
    public Action<int, int>? Progress { get; init; }

    /// <summary>Inputs with more columns and rows than this are reduced by <c>TsneReduction</c> (float32 covariance, subspace iteration) instead of <see cref="Pca"/>.</summary>
    public const int WideInput = 256;

    /// <summary>Auto uses the exact gradient below this many samples.</summary>
    public const int ExactThreshold = 600;

    /// <summary>Runs t-SNE on the rows of <paramref name="x"/> and returns the n x 2 embedding.</summary>
    public TsneResult Run(Matrix x) => Run(x, out _);

    /// <summary>Runs t-SNE and reports wall times separately (they are not part of the deterministic result).</summary>
    public TsneResult Run(Matrix x, out TsneTimings timings)
    {
        var sw = Stopwatch.StartNew();
        double c0 = ProcessCpu();
        var reduced = Prepare(x);
        double tPca = sw.Elapsed.TotalSeconds, cPca = ProcessCpu();
        var p = TsneAffinities.Compute(reduced, Perplexity, out double knnSeconds);
        double tAff = sw.Elapsed.TotalSeconds, cAff = ProcessCpu();
        var y0 = InitialPositions(reduced);
        double tInit = sw.Elapsed.TotalSeconds, cInit = ProcessCpu();
        var method = ResolveMethod(x.Rows);
        var result = Optimize(p, y0, method, out double treeSeconds, out double forceSeconds, out double attractionSeconds, out double repulsionSeconds);
        timings = new TsneTimings(tAff, tInit - tAff, sw.Elapsed.TotalSeconds - tInit, sw.Elapsed.TotalSeconds,
            tPca, knnSeconds, treeSeconds, forceSeconds, cPca - c0, cAff - c0, ProcessCpu() - cInit,
            attractionSeconds, repulsionSeconds);
        return result;
    }

    /// <summary>The affinities this configuration uses for <paramref name="x"/> (after the PCA reduction), e.g. for <see cref="TsneKl.Exact"/>.</summary>
    public TsneAffinities Affinities(Matrix x) => TsneAffinities.Compute(Prepare(x), Perplexity);

    static double ProcessCpu()
    {
        using var proc = Process.GetCurrentProcess();
        return proc.TotalProcessorTime.TotalSeconds;
    }

    /// <summary>
    /// Auto uses FFT interpolation from this many samples on (Barnes-Hut below). Measured here on Fashion-MNIST
    /// PCA-50 (2 cores): Barnes-Hut 10.0 s against FFT 20.8 s at 20,000 rows, 65.8 s against 82.0 s at 70,000,
    /// trustworthiness equal to 0.0002; so Auto never picks FFT for now (the FFT grid grows with the embedding's
    /// span, not with n, and would win at larger n or with more cores for the transforms).
    /// </summary>
    public const int FftThreshold = int.MaxValue;

    /// <summary>The method <see cref="TsneMethod.Auto"/> resolves to for n samples.</summary>
    public TsneMethod ResolveMethod(int n) => Method != TsneMethod.Auto ? Method
        : n < ExactThreshold ? TsneMethod.Exact : n < FftThreshold ? TsneMethod.BarnesHut : TsneMethod.Fft;

    Matrix Prepare(Matrix x)
    {
        ArgumentNullException.ThrowIfNull(x);
        x.EnsureNotEmpty("The t-SNE input").EnsureFinite("The t-SNE input");
        int n = x.Rows;
        if (n < 4) throw new ProbeException($"t-SNE needs at least 4 samples, got {n}.");
        if (!(Perplexity > 0) || double.IsInfinity(Perplexity)) throw new ProbeException($"The t-SNE perplexity must be positive, got {Perplexity}.");
        if (3 * Perplexity + 1 > n - 1)
            throw new ProbeException($"Perplexity {Perplexity} is too large for {n} samples: t-SNE uses 3 x perplexity neighbours, so it must be at most {(n - 2) / 3.0:0.##}. Lower the perplexity or use more samples.");
        if (Iterations < 1) throw new ProbeException($"t-SNE needs at least 1 iteration, got {Iterations}.");
        if (ExaggerationIterations < 0) throw new ProbeException($"Early-exaggeration iterations cannot be negative, got {ExaggerationIterations}.");
        if (!(Exaggeration > 0)) throw new ProbeException($"The early exaggeration must be positive, got {Exaggeration}.");
        if (!(Theta >= 0) || double.IsInfinity(Theta)) throw new ProbeException($"The Barnes-Hut angle theta must be >= 0, got {Theta}.");
        if (LearningRate is { } lr && !(lr > 0)) throw new ProbeException($"The t-SNE learning rate must be positive, got {lr}.");
        if (Init is { } init)
        {
            if (init.Rows != n || init.Cols != 2)
                throw new ProbeException($"The t-SNE initial embedding must be {n} x 2 (one row per sample), got {init.Rows} x {init.Cols}.");
            init.EnsureFinite("The t-SNE initial embedding");
        }
        if (PcaDimensions > 0 && x.Cols > PcaDimensions && n > PcaDimensions)
        {
            // wide and tall inputs: float32 covariance + subspace iteration (only the subspace matters here)
            if (x.Cols > WideInput && n > WideInput)
                return TsneReduction.Reduce(x, PcaDimensions, Seed);
            return new Pca(PcaDimensions, PcaSolver.Auto, Seed).FitTransform(x);
        }
        return x;
    }

    double[] InitialPositions(Matrix reduced)
    {
        int n = reduced.Rows;
        var y = new double[2 * n];
        if (Init is { } init)
        {
            for (int i = 0; i < 2 * n; i++) y[i] = init.Data[i];
            if (RescaleInit) ScaleFirstAxisStd(y, n);
            return y;
        }
        if (reduced.Cols >= 2)
        {
            var pcs = new Pca(2, PcaSolver.Auto, Seed).Fit(reduced).Transform(reduced);
            for (int i = 0; i < 2 * n; i++) y[i] = pcs.Data[i];
            if (ScaleFirstAxisStd(y, n)) return y;
        }
        // one input column, or a constant first component: seeded Gaussian with std 1e-4
        var g = Pca.Gaussian(2 * n, Seed);
        for (int i = 0; i < 2 * n; i++) y[i] = g[i] * 1e-4;
        return y;
    }

    /// <summary>Scales y so that its first coordinate has population std 1e-4 (scikit-learn / openTSNE); false when it is constant.</summary>
    static bool ScaleFirstAxisStd(double[] y, int n)
    {
        double mean = 0, var = 0;
        for (int i = 0; i < n; i++) mean += y[2 * i];
        mean /= n;
        for (int i = 0; i < n; i++) { double t = y[2 * i] - mean; var += t * t; }
        double sd = Math.Sqrt(var / n);
        if (!(sd > 0)) return false;
        for (int i = 0; i < 2 * n; i++) y[i] = y[i] / sd * 1e-4;
        return true;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    TsneResult Optimize(TsneAffinities p, double[] y, TsneMethod method, out double treeSeconds, out double forceSeconds,
        out double attractionSeconds, out double repulsionSeconds)
    {
        int n = p.Samples;
        var gradient = new TsneGradient(p, method, Theta);
        var grad = new double[2 * n];
        var update = new double[2 * n];
        var gains = new double[2 * n];
        var history = new List<double>();
        var historyIt = new List<int>();
        int exIters = Math.Min(ExaggerationIterations, Iterations);
        for (int it = 0; it < Iterations; it++)
        {
            Cancellation.ThrowIfCancellationRequested();
            bool early = it < exIters;
            if (it == 0 || it == exIters)
            {
                Array.Clear(update);
                Array.Fill(gains, 1.0);
            }
            double exaggeration = early ? Exaggeration : 1.0;
            double momentum = early ? 0.5 : 0.8;
            double lr = LearningRate ?? Math.Max(n / exaggeration / 4.0, 50.0);
            bool wantKl = KlEvery > 0 && it > 0 && it % KlEvery == 0;
            double kl = gradient.Compute(y, exaggeration, grad, wantKl);
            if (wantKl) { history.Add(kl); historyIt.Add(it); }
            for (int c = 0; c < 2 * n; c++)
            {
                double g = grad[c], u = update[c];
                double gain = u * g < 0 ? gains[c] + 0.2 : gains[c] * 0.8;
                if (gain < 0.01) gain = 0.01;
                gains[c] = gain;
                u = momentum * u - lr * gain * g;
                update[c] = u;
                y[c] += u;
            }
            double mx = 0, my = 0;
            for (int i = 0; i < n; i++) { mx += y[2 * i]; my += y[2 * i + 1]; }
            mx /= n; my /= n;
            for (int i = 0; i < n; i++) { y[2 * i] -= mx; y[2 * i + 1] -= my; }
            Progress?.Invoke(it + 1, Iterations);
        }
        double finalKl = gradient.Compute(y, 1.0, grad, wantKl: true);
        history.Add(finalKl); historyIt.Add(Iterations);
        treeSeconds = gradient.TreeSeconds; forceSeconds = gradient.ForceSeconds;
        attractionSeconds = gradient.AttractionThreadSeconds; repulsionSeconds = gradient.RepulsionThreadSeconds;
        foreach (var v in y)
            if (!double.IsFinite(v)) throw new ProbeException("t-SNE diverged (non-finite coordinates); lower the learning rate.");
        var emb = new Matrix(n, 2);
        for (int i = 0; i < 2 * n; i++) emb.Data[i] = (float)y[i];
        return new TsneResult(emb, finalKl, Iterations, method, p.Neighbours, history.ToArray(), historyIt.ToArray());
    }
}

/// <summary>
/// A t-SNE embedding (n x 2, float32), the KL divergence at the end (exact for <see cref="TsneMethod.Exact"/>; with
/// the Barnes-Hut estimate of the normalisation Z for <see cref="TsneMethod.BarnesHut"/>, as scikit-learn reports it),
/// and the KL every <see cref="Tsne.KlEvery"/> iterations (always with the un-exaggerated P).
/// </summary>
public sealed record TsneResult(Matrix Embedding, double KlDivergence, int Iterations, TsneMethod Method, int Neighbours,
    double[] KlHistory, int[] KlHistoryIterations);

/// <summary>Wall-clock seconds of a t-SNE run by phase (kept out of <see cref="TsneResult"/>, which is deterministic).</summary>
/// <remarks>AffinitySeconds includes PcaSeconds and KnnSeconds; OptimizeSeconds includes TreeSeconds and ForceSeconds.</remarks>
public sealed record TsneTimings(double AffinitySeconds, double InitSeconds, double OptimizeSeconds, double TotalSeconds,
    double PcaSeconds = 0, double KnnSeconds = 0, double TreeSeconds = 0, double ForceSeconds = 0,
    double PcaCpuSeconds = 0, double AffinityCpuSeconds = 0, double OptimizeCpuSeconds = 0,
    double AttractionThreadSeconds = 0, double RepulsionThreadSeconds = 0);
