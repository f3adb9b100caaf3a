using static TorchSharp.torch;
using Probe.Native;

namespace Probe.Similarity;

/// <summary>The canonical-correlation core shared by mean CCA, SVCCA, PWCCA and linear regression.</summary>
internal static class CcaCore
{
    internal static CentredSvd Prepare(Matrix x, string what)
    {
        var s = CentredSvd.Of(x, what);
        if (s.Rank == 0) throw CkaMath.Constant(what);
        return s;
    }

    /// <summary>M = Qx' Qy (rx x ry) as a float64 tensor in the caller's dispose scope.</summary>
    internal static Tensor Cross(CentredSvd x, CentredSvd y)
    {
        if (x.Rows != y.Rows) throw new ProbeException($"The two matrices have {x.Rows} and {y.Rows} samples: they must describe the same samples, row by row.");
        return mm(x.QTensor().t(), y.QTensor());
    }

    /// <summary>The canonical correlations, descending, clipped to [0, 1]: the singular values of Qx' Qy.</summary>
    internal static double[] Correlations(CentredSvd x, CentredSvd y)
    {
        using var scope = NewDisposeScope();
        return Clip(linalg.svdvals(Cross(x, y)).Values<double>());
    }

    /// <summary>
    /// When <paramref name="x"/> and <paramref name="y"/> span more directions together (their ranks) than the n - 1
    /// that n centred samples have, their spans share at least rx + ry - (n - 1) directions (two subspaces of an
    /// (n - 1)-dimensional space), so that many canonical correlations are 1 whatever the data; at rank n - 1 a side
    /// spans every direction and each one is. Null when the ranks leave room.
    /// </summary>
    internal static string? Caveat(CentredSvd x, CentredSvd y, string xWhat, string yWhat)
    {
        int room = x.Rows - 1, pairs = Math.Min(x.Rank, y.Rank);
        int forced = Math.Min(pairs, x.Rank + y.Rank - room);
        if (forced <= 0) return null;
        return string.Create(System.Globalization.CultureInfo.InvariantCulture,
            $"{xWhat} and {yWhat} span {x.Rank} + {y.Rank} directions of the {room} that {x.Rows} centred samples have, so at least {forced} of their {pairs} canonical correlations are 1 whatever the data: use many more samples than features (CKA, Procrustes and RSA have no such floor).");
    }

    internal static double[] Clip(double[] rho)
    {
        for (int i = 0; i < rho.Length; i++) rho[i] = Math.Clamp(rho[i], 0, 1);
        return rho;
    }

    internal static double Mean(double[] v)
    {
        double s = 0;
        foreach (double a in v) s += a;
        return s / v.Length;
    }
}

/// <summary>
/// The measures built on canonical correlations (mean CCA, SVCCA, PWCCA, linear regression): each matrix is prepared as
/// its centred SVD, and a pair whose ranks leave fewer than n - 1 directions free gets <see cref="CcaCore.Caveat"/>.
/// </summary>
public abstract record CanonicalCorrelationMeasure : SimilarityMeasure
{
    internal override object Prepare(Matrix x, string what) => CcaCore.Prepare(x, what);

    internal sealed override string? Caveat(object x, object y, string xWhat, string yWhat) => CcaCore.Caveat((CentredSvd)x, (CentredSvd)y, xWhat, yWhat);
}

/// <summary>Mean canonical correlation (see <see cref="SimilarityMath.MeanCca"/>).</summary>
public sealed record MeanCcaMeasure : CanonicalCorrelationMeasure
{
    public override string Name => "mean-cca";
    public override string Description => "mean CCA";
    internal override SimilarityScore Compare(object x, object y, string xWhat, string yWhat) =>
        new(Name, CcaCore.Mean(CcaCore.Correlations((CentredSvd)x, (CentredSvd)y)), SimilarityScore.None);
}

/// <summary>SVCCA (see <see cref="SimilarityMath.Svcca"/>); <see cref="Keep"/> is the fraction of variance kept per side.</summary>
public sealed record SvccaMeasure(double Keep = SvccaMeasure.DefaultKeep) : CanonicalCorrelationMeasure
{
    /// <summary>Raghu et al. 2017 keep the directions explaining 99% of the variance.</summary>
    public const double DefaultKeep = 0.99;

    public override string Name => "svcca";
    public override string Description => $"SVCCA (keep {F(Keep * 100)}% of the variance)";

    internal override object Prepare(Matrix x, string what)
    {
        if (!(Keep > 0 && Keep <= 1)) throw new ProbeException($"SVCCA keeps a fraction of the variance in (0, 1]; got {F(Keep)}.");
        var s = CcaCore.Prepare(x, what);
        return s.Top(s.KeepCount(Keep));
    }

    internal override SimilarityScore Compare(object x, object y, string xWhat, string yWhat) =>
        new(Name, CcaCore.Mean(CcaCore.Correlations((CentredSvd)x, (CentredSvd)y)), SimilarityScore.None);
}

/// <summary>Projection-weighted CCA (see <see cref="SimilarityMath.Pwcca"/>). Asymmetric only when both sides have equally many columns.</summary>
public sealed record PwccaMeasure : CanonicalCorrelationMeasure
{
    public override string Name => "pwcca";
    public override string Description => "PWCCA";
    public override bool IsSymmetric => false;

    internal override SimilarityScore Compare(object a, object b, string xWhat, string yWhat)
    {
        var x = (CentredSvd)a;
        var y = (CentredSvd)b;
        using var scope = NewDisposeScope();
        var cross = CcaCore.Cross(x, y);
        var rho = CcaCore.Clip(linalg.svdvals(cross).Values<double>());
        int m = rho.Length;
        // Weights from the side with fewer columns (the first when equal): its canonical variates h_i = Q W[:, i]
        // (W = U for x, V for y, the singular vectors of M = Qx' Qy); <h_i, c_j> over its centred columns
        // c_j = (W' S V')_ij since Xc = Q S V'. W is taken as the eigenvectors of M M' (or M' M), descending: the same
        // vectors as the SVD's (eigenvector accuracy depends on the gaps between the rho_i, not on their size), and
        // libtorch's eigh is several times faster than its SVD with vectors (1,024 x 1,024: measured in bench/).
        bool first = x.Cols <= y.Cols;
        var side = first ? x : y;
        var gram = first ? mm(cross, cross.t()) : mm(cross.t(), cross);
        var (_, vectors) = linalg.eigh(gram); // ascending
        long size = vectors.shape[1];
        var w = vectors.index_select(1, arange(size - 1, size - 1 - m, -1, dtype: ScalarType.Int64));
        var sv = tensor(side.SingularValues, [side.Rank, 1]);
        var vt = tensor(side.Vt, [side.Rank, side.Cols]);
        var proj = mm(w.t(), sv * vt); // m x p
        var alpha = proj.abs().sum(new long[] { 1 }, type: ScalarType.Float64).Values<double>();
        double num = 0, den = 0;
        for (int i = 0; i < m; i++) { num += alpha[i] * rho[i]; den += alpha[i]; }
        if (!(den > 0)) throw CkaMath.Constant(first ? xWhat : yWhat);
        return new SimilarityScore(Name, Math.Clamp(num / den, 0, 1), SimilarityScore.None);
    }
}

/// <summary>Linear-regression R^2 of the second matrix from the first (see <see cref="SimilarityMath.LinearRegression"/>). Asymmetric.</summary>
public sealed record LinearRegressionMeasure : CanonicalCorrelationMeasure
{
    public override string Name => "linreg";
    public override string Description => "linear regression R^2 (column from row)";
    public override bool IsSymmetric => false;

    internal override SimilarityScore Compare(object a, object b, string xWhat, string yWhat)
    {
        var x = (CentredSvd)a;
        var y = (CentredSvd)b;
        using var scope = NewDisposeScope();
        // Yc = Qy Sy Vy' with orthonormal Vy', so ||Qx' Yc||_F^2 = ||(Qx' Qy) Sy||_F^2.
        var sy = tensor(y.SingularValues, [1, y.Rank]);
        double explained = (CcaCore.Cross(x, y) * sy).square().sum().item<double>();
        return new SimilarityScore(Name, Math.Clamp(explained / y.TotalSquares, 0, 1), SimilarityScore.None);
    }
}
