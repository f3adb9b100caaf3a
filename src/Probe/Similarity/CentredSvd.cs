using System.Runtime.InteropServices;
using static TorchSharp.torch;

namespace Probe.Similarity;

/// <summary>
/// The thin SVD of a matrix with centred columns, Xc = Q S V', in float64, keeping only the directions whose singular
/// value exceeds s_max * max(n, p) * eps64 (NumPy's matrix_rank tolerance). <see cref="Q"/> (n x rank, row-major) is
/// an orthonormal basis of the centred column space, <see cref="Vt"/> (rank x p) the matching right singular vectors.
/// Rank 0 means the matrix is constant over the samples.
/// </summary>
public sealed record CentredSvd(int Rows, int Cols, double[] Q, double[] SingularValues, double[] Vt, int Rank, double TotalSquares)
{
    /// <summary>Centres <paramref name="x"/>'s columns (in double) and takes the thin SVD.</summary>
    public static CentredSvd Of(Matrix x, string what = "the matrix")
    {
        ArgumentNullException.ThrowIfNull(x);
        x.EnsureNotEmpty(what);
        x.EnsureFinite(what);
        int n = x.Rows, p = x.Cols;
        var c = CkaMath.CentredColumns(x);
        double total = 0;
        foreach (double v in c) total += v * v;
        if (!(total > 0)) return new CentredSvd(n, p, [], [], [], 0, 0);
        using var scope = NewDisposeScope();
        var (u, s, vh) = linalg.svd(tensor(c, [n, p]), fullMatrices: false);
        var sv = s.data<double>().ToArray();
        double tol = sv[0] * Math.Max(n, p) * Epsilon64;
        int r = sv.Count(v => v > tol);
        var q = u.narrow(1, 0, r).contiguous();
        var vt = vh.narrow(0, 0, r).contiguous();
        return new CentredSvd(n, p, Values(q), sv.Take(r).ToArray(), Values(vt), r, total);
    }

    /// <summary>The machine epsilon of float64, 2^-52 (NumPy's finfo(float64).eps).</summary>
    public const double Epsilon64 = 2.220446049250313e-16;

    internal static double[] Values(Tensor t) => MemoryMarshal.Cast<byte, double>(t.contiguous().bytes).ToArray();

    /// <summary>The basis as a float64 tensor (n x rank); shares this record's array, never modify it.</summary>
    internal Tensor QTensor() => tensor(Q, [Rows, Rank]);

    /// <summary>The smallest count k whose cumulative squared singular values reach <paramref name="keep"/> of the total.</summary>
    public int KeepCount(double keep)
    {
        double total = 0;
        foreach (double v in SingularValues) total += v * v;
        double sum = 0;
        for (int k = 0; k < Rank; k++)
        {
            sum += SingularValues[k] * SingularValues[k];
            if (sum / total >= keep) return k + 1;
        }
        return Rank;
    }

    /// <summary>The same record reduced to its first <paramref name="k"/> directions (U_k S_k is the SVCCA-reduced matrix).</summary>
    public CentredSvd Top(int k)
    {
        if (k >= Rank) return this;
        var q = new double[(long)Rows * k];
        for (int i = 0; i < Rows; i++) Array.Copy(Q, (long)i * Rank, q, (long)i * k, k);
        double kept = 0;
        for (int j = 0; j < k; j++) kept += SingularValues[j] * SingularValues[j];
        return new CentredSvd(Rows, k, q, SingularValues.Take(k).ToArray(), IdentityRows(k), k, kept);
    }

    private static double[] IdentityRows(int k)
    {
        var e = new double[k * k];
        for (int i = 0; i < k; i++) e[i * k + i] = 1;
        return e;
    }
}
