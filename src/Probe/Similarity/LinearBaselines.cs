using static TorchSharp.torch;
using Probe.Native;

namespace Probe.Similarity;

/// <summary>
/// A layer prepared for the linear baselines: its centred data and an orthonormal basis of the centred column space
/// (left singular vectors whose singular value exceeds <see cref="LinearBaselines.RankTolerance"/> times the largest),
/// all in double. Build once per layer with <see cref="Of"/> and reuse across comparisons.
/// </summary>
public sealed record CentredBasis(int Rows, int Cols, double[] Centred, double TotalSquares, double[] Q, double[] SingularValues, int Rank)
{
    /// <summary>Centres <paramref name="x"/>'s columns and computes the basis (thin SVD in float64).</summary>
    public static CentredBasis Of(Matrix x, string what = "the layer")
    {
        CkaMath.Validate(x, what, 2);
        int n = x.Rows, d = x.Cols;
        double[] c = CkaMath.CentredColumns(x);
        double total = 0;
        foreach (double v in c) total += v * v;
        if (!(total > 0)) return new CentredBasis(n, d, c, 0, [], [], 0);
        using var scope = NewDisposeScope();
        var t = tensor(c, [n, d]);
        var (u, s, _) = linalg.svd(t, fullMatrices: false);
        var sv = s.Values<double>();
        int k = sv.Count(v => v > LinearBaselines.RankTolerance * sv[0]);
        var q = u.narrow(1, 0, k).contiguous();
        return new CentredBasis(n, d, c, total, q.Values<double>(), sv.Take(k).ToArray(), k);
    }
}

/// <summary>The baselines of two prepared layers: R^2 each way and the canonical correlations (descending).</summary>
public sealed record BaselineScores(double R2XFromY, double R2YFromX, double[] CanonicalCorrelations)
{
    /// <summary>The mean canonical correlation.</summary>
    public double MeanCca => CanonicalCorrelations.Average();
}

/// <summary>
/// The classic similarity indices CKA is compared against in Kornblith et al. 2019 (Table 2), on centred data in
/// double precision: linear-regression R^2 and mean canonical correlation. Both use orthonormal bases of the centred
/// column spaces, so rank-deficient layers (dead units, duplicated columns) are handled.
/// </summary>
public static class LinearBaselines
{
    /// <summary>Relative singular-value threshold below which a direction counts as absent (rank detection).</summary>
    public const double RankTolerance = 1e-10;

    /// <summary>
    /// R^2 of the least-squares fit of <paramref name="target"/> from <paramref name="predictor"/> (both centred):
    /// ||Q_Y' X||_F^2 / ||X||_F^2 (Kornblith et al. 2019, R^2_LR). Asymmetric; in [0, 1].
    /// </summary>
    public static double LinearRegressionR2(Matrix target, Matrix predictor)
    {
        CkaMath.ValidatePair(target, predictor, "the target matrix", "the predictor matrix", 2);
        return LinearRegressionR2(CentredBasis.Of(target, "the target matrix"), CentredBasis.Of(predictor, "the predictor matrix"));
    }

    /// <summary>R^2 of fitting <paramref name="target"/> from <paramref name="predictor"/>, from prepared layers.</summary>
    public static double LinearRegressionR2(CentredBasis target, CentredBasis predictor) => Compare(target, predictor).R2XFromY;

    /// <summary>
    /// Every baseline from one product M = Q_X' Q_Y (rank x rank, independent of the widths): R^2 of X from Y
    /// (= sum_kl s_k^2 M_kl^2 / ||X||^2 with X = U S V'), R^2 of Y from X, and the canonical correlations (singular values of M).
    /// </summary>
    public static BaselineScores Compare(CentredBasis x, CentredBasis y)
    {
        Same(x, y);
        if (x.Rank == 0) throw CkaMath.Constant("the first matrix");
        if (y.Rank == 0) throw CkaMath.Constant("the second matrix");
        using var scope = NewDisposeScope();
        var qx = tensor(x.Q, [x.Rows, x.Rank]);
        var qy = tensor(y.Q, [y.Rows, y.Rank]);
        var m = mm(qx.t(), qy);
        var sx = tensor(x.SingularValues, [x.Rank, 1]);
        var sy = tensor(y.SingularValues, [1, y.Rank]);
        double xFromY = (m * sx).square().sum().item<double>() / x.TotalSquares;
        double yFromX = (m * sy).square().sum().item<double>() / y.TotalSquares;
        var rho = linalg.svdvals(m).Values<double>().Select(v => Math.Clamp(v, 0, 1)).OrderByDescending(v => v).ToArray();
        return new BaselineScores(Math.Clamp(xFromY, 0, 1), Math.Clamp(yFromX, 0, 1), rho);
    }

    /// <summary>The canonical correlations (descending, min(rank X, rank Y) of them): the singular values of Q_X' Q_Y.</summary>
    public static double[] CanonicalCorrelations(Matrix x, Matrix y)
    {
        CkaMath.ValidatePair(x, y, "the first matrix", "the second matrix", 2);
        return CanonicalCorrelations(CentredBasis.Of(x, "the first matrix"), CentredBasis.Of(y, "the second matrix"));
    }

    /// <summary>The canonical correlations of two prepared layers.</summary>
    public static double[] CanonicalCorrelations(CentredBasis x, CentredBasis y) => Compare(x, y).CanonicalCorrelations;

    /// <summary>Mean canonical correlation rho-bar = (1/p) sum_i rho_i, p = min(rank X, rank Y) (Kornblith et al. 2019). Symmetric.</summary>
    public static double MeanCcaCorrelation(Matrix x, Matrix y) => CanonicalCorrelations(x, y).Average();

    /// <summary>Mean canonical correlation of two prepared layers.</summary>
    public static double MeanCcaCorrelation(CentredBasis x, CentredBasis y) => CanonicalCorrelations(x, y).Average();

    /// <summary>An orthonormal basis (n x k, row-major) of the centred columns' span and its rank k.</summary>
    public static (double[] Q, int Rank) OrthonormalBasis(Matrix x)
    {
        var b = CentredBasis.Of(x);
        return (b.Q, b.Rank);
    }

    private static void Same(CentredBasis a, CentredBasis b)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        if (a.Rows != b.Rows) throw new ProbeException($"The two layers have {a.Rows} and {b.Rows} samples: they must describe the same samples, row by row.");
    }
}
