namespace Probe.Similarity;

/// <summary>The kernel CKA compares representations with.</summary>
public enum CkaKernel
{
    /// <summary>k(x, y) = x . y (the classic linear CKA).</summary>
    Linear,
    /// <summary>k(x, y) = exp(-||x - y||^2 / (2 sigma^2)), sigma^2 = frac^2 x median squared distance.</summary>
    Rbf,
}

/// <summary>
/// Precision of the large matrix products. Centring, sums and every accumulation are always in double.
/// </summary>
public enum CkaPrecision
{
    /// <summary>Double for small work and for the estimators that cancel (debiased, RBF); single-precision
    /// products with double accumulation for large biased linear work.</summary>
    Auto,
    /// <summary>Every product in float64.</summary>
    Double,
    /// <summary>Products in float32 on data centred in double, accumulated in double (about 1e-6 relative).</summary>
    Single,
}

/// <summary>
/// A layer-by-layer similarity table: <see cref="Values"/>[i][j] compares <see cref="RowLayers"/>[i] with
/// <see cref="ColLayers"/>[j]. <see cref="Measure"/> names the estimator (for example "linear CKA").
/// </summary>
public sealed record CkaMatrix(string[] RowLayers, string[] ColLayers, double[][] Values, string Measure)
{
    /// <summary>The value for a pair of layer names.</summary>
    public double this[string row, string col]
    {
        get
        {
            int i = Array.IndexOf(RowLayers, row), j = Array.IndexOf(ColLayers, col);
            if (i < 0 || j < 0) throw new ProbeException($"No CKA value for ({row}, {col}): rows are [{string.Join(", ", RowLayers)}], columns [{string.Join(", ", ColLayers)}].");
            return Values[i][j];
        }
    }
}
