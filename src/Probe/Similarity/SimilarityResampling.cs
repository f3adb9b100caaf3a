namespace Probe.Similarity;

/// <summary>
/// A bootstrap interval: <see cref="Estimate"/> is the measure on the data; <see cref="PercentileLow"/> and
/// <see cref="PercentileHigh"/> the (1 - level)/2 and (1 + level)/2 quantiles of <see cref="Replicates"/> values on rows
/// resampled with replacement; <see cref="Low"/> and <see cref="High"/> the basic interval at <see cref="Level"/>,
/// 2 Estimate - PercentileHigh and 2 Estimate - PercentileLow (<see cref="Method"/> = "basic", see
/// <see cref="SimilarityBootstrap"/>); <see cref="StandardError"/> the values' standard deviation and <see cref="Bias"/>
/// their mean minus the estimate. A resample repeats rows, which raises CKA, Procrustes, CCA-family and k-NN scores
/// (most on few samples with many columns), so the values sit above the estimate and the percentile quantiles can
/// exclude it; the basic interval reflects them about the estimate, which corrects for that bias. Both contain the
/// estimate exactly when PercentileLow &lt;= Estimate &lt;= PercentileHigh: a bias larger than about half the width
/// leaves the estimate outside (<see cref="ContainsEstimate"/> is false), and says: use more samples. The basic
/// interval is not clipped to the measure's range (it can pass 1 when the values are skewed).
/// </summary>
public sealed record BootstrapInterval(string Measure, double Estimate, double Low, double High, double Level, double Mean, double StandardError, int Replicates, int Seed,
    double PercentileLow, double PercentileHigh)
{
    /// <summary>How <see cref="Low"/> and <see cref="High"/> are made from the bootstrap values: "basic" (reverse percentile).</summary>
    public string Method => "basic";

    /// <summary>Mean of the bootstrap values minus the estimate.</summary>
    public double Bias => Mean - Estimate;

    /// <summary>Whether <see cref="Low"/> &lt;= <see cref="Estimate"/> &lt;= <see cref="High"/>.</summary>
    public bool ContainsEstimate => Low <= Estimate && Estimate <= High;
}

/// <summary>
/// A permutation null: the measure with one side's rows shuffled (the pairing broken). <see cref="PValue"/> =
/// (1 + #{null >= observed}) / (1 + permutations), one-sided (similarity above chance); <see cref="Low"/> and
/// <see cref="High"/> bound the central 95% of the null values.
/// </summary>
public sealed record PermutationNull(string Measure, double Observed, double Mean, double StandardDeviation, double Low, double High, double PValue, int Permutations, int Seed);

/// <summary>
/// Bootstrap confidence interval for any similarity measure: rows (samples) are drawn with replacement, the same rows on
/// both sides, <see cref="Replicates"/> times from a <see cref="Random"/> seeded with <see cref="Seed"/>; q_lo and q_hi
/// are the empirical (1 - level)/2 and (1 + level)/2 quantiles of the values (linear interpolation, NumPy's default) and
/// the interval is the basic (reverse-percentile) one, [2 estimate - q_hi, 2 estimate - q_lo] (Davison and Hinkley 1997,
/// section 5.2; Efron and Tibshirani 1993, chapter 13 for the percentile interval). Why not the percentile interval
/// [q_lo, q_hi]: it assumes the estimate is unbiased (on some monotone scale), so a bias of the values is added to the
/// interval instead of removed, and a resample's repeated rows raise the similarity measures (a user's linear CKA of
/// 0.515 on 500 x 64 vs 500 x 32 rows had resamples 0.019 higher on average and a percentile interval of
/// [0.522, 0.547], entirely above the estimate). The basic interval takes the distribution of value - estimate as that
/// of estimate - truth, so the bias the resamples show moves the interval the other way. BCa (Efron and Tibshirani 1993,
/// chapter 14) also corrects bias but needs n jackknife evaluations of the measure, and its bias correction z0 is
/// infinite when no value falls below the estimate (which a bias this size makes likely). The quantiles stay in
/// <see cref="BootstrapInterval"/>. Same inputs and seed, same interval.
/// </summary>
public sealed record SimilarityBootstrap(int Replicates = 1000, int Seed = 0, double Level = 0.95)
{
    /// <summary>The interval of <paramref name="measure"/>'s headline value.</summary>
    public BootstrapInterval Run(SimilarityMeasure measure, Matrix x, Matrix y)
    {
        ArgumentNullException.ThrowIfNull(measure);
        measure.CheckPair(x, y, "the first matrix", "the second matrix");
        return Run(measure.Name, (a, b) => measure.Compute(a, b).Value, x, y);
    }

    /// <summary>The interval of any function of two matrices with paired rows.</summary>
    public BootstrapInterval Run(string name, Func<Matrix, Matrix, double> measure, Matrix x, Matrix y)
    {
        ArgumentNullException.ThrowIfNull(measure);
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(y);
        if (Replicates < 2) throw new ProbeException($"A bootstrap needs at least 2 replicates, got {Replicates}.");
        if (!(Level > 0 && Level < 1)) throw new ProbeException($"The interval level must be in (0, 1), got {Level}.");
        if (x.Rows != y.Rows) throw new ProbeException($"The matrices have {x.Rows} and {y.Rows} rows; the bootstrap resamples paired rows.");
        double estimate = measure(x, y);
        var rng = new Random(Seed);
        int n = x.Rows;
        var rows = new int[n];
        var values = new double[Replicates];
        for (int r = 0; r < Replicates; r++)
        {
            for (int i = 0; i < n; i++) rows[i] = rng.Next(n);
            values[r] = measure(x.SelectRows(rows), y.SelectRows(rows));
        }
        var (mean, sd) = MeanSd(values);
        Array.Sort(values);
        double tail = (1 - Level) / 2;
        double qLow = Quantile(values, tail), qHigh = Quantile(values, 1 - tail);
        return new BootstrapInterval(name, estimate, 2 * estimate - qHigh, 2 * estimate - qLow, Level, mean, sd, Replicates, Seed, qLow, qHigh);
    }

    /// <summary>The q-quantile of sorted values, interpolating linearly between order statistics (NumPy's 'linear').</summary>
    public static double Quantile(double[] sorted, double q)
    {
        ArgumentNullException.ThrowIfNull(sorted);
        if (sorted.Length == 0) throw new ProbeException("No values to take a quantile of.");
        double h = (sorted.Length - 1) * q;
        int lo = (int)Math.Floor(h);
        if (lo >= sorted.Length - 1) return sorted[^1];
        return sorted[lo] + (h - lo) * (sorted[lo + 1] - sorted[lo]);
    }

    internal static (double Mean, double Sd) MeanSd(double[] v)
    {
        double mean = 0;
        foreach (double a in v) mean += a;
        mean /= v.Length;
        double ss = 0;
        foreach (double a in v) ss += (a - mean) * (a - mean);
        return (mean, v.Length > 1 ? Math.Sqrt(ss / (v.Length - 1)) : 0);
    }
}

/// <summary>
/// Permutation null for any similarity measure: the rows of the second matrix are shuffled (Fisher-Yates with a
/// <see cref="Random"/> seeded with <see cref="Seed"/>) <see cref="Permutations"/> times and the measure recomputed,
/// which keeps each side's own structure and breaks the pairing (what chance similarity looks like for these data).
/// The first side is prepared once.
/// </summary>
public sealed record SimilarityPermutationTest(int Permutations = 1000, int Seed = 0)
{
    /// <summary>The null distribution of <paramref name="measure"/>'s headline value.</summary>
    public PermutationNull Run(SimilarityMeasure measure, Matrix x, Matrix y)
    {
        ArgumentNullException.ThrowIfNull(measure);
        measure.CheckPair(x, y, "the first matrix", "the second matrix");
        var px = measure.Prepare(x, "the first matrix");
        return Run(measure.Name,
            (_, b) => measure.Compare(px, measure.Prepare(b, "the second matrix (shuffled)"), "the first matrix", "the second matrix (shuffled)").Value,
            x, y);
    }

    /// <summary>The null distribution of any function of two matrices with paired rows.</summary>
    public PermutationNull Run(string name, Func<Matrix, Matrix, double> measure, Matrix x, Matrix y)
    {
        ArgumentNullException.ThrowIfNull(measure);
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(y);
        if (Permutations < 2) throw new ProbeException($"A permutation test needs at least 2 permutations, got {Permutations}.");
        if (x.Rows != y.Rows) throw new ProbeException($"The matrices have {x.Rows} and {y.Rows} rows; the permutation test shuffles paired rows.");
        double observed = measure(x, y);
        var rng = new Random(Seed);
        int n = y.Rows;
        var perm = new int[n];
        var values = new double[Permutations];
        int atLeast = 0;
        for (int r = 0; r < Permutations; r++)
        {
            for (int i = 0; i < n; i++) perm[i] = i;
            for (int i = n - 1; i > 0; i--) { int j = rng.Next(i + 1); (perm[i], perm[j]) = (perm[j], perm[i]); }
            values[r] = measure(x, y.SelectRows(perm));
            if (values[r] >= observed) atLeast++;
        }
        var (mean, sd) = SimilarityBootstrap.MeanSd(values);
        Array.Sort(values);
        return new PermutationNull(name, observed, mean, sd, SimilarityBootstrap.Quantile(values, 0.025), SimilarityBootstrap.Quantile(values, 0.975),
            (1.0 + atLeast) / (1.0 + Permutations), Permutations, Seed);
    }
}
