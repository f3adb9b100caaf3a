using static TorchSharp.torch;
using Probe.Native;

namespace Probe.Projection;

/// <summary>Eigendecomposition of a real symmetric matrix (row-major m x m), eigenvalues in descending order.</summary>
internal static class SymmetricEigen
{
    /// <summary>Cyclic Jacobi rotations in double precision; fine for m up to a few hundred.</summary>
    public static (double[] Values, double[][] Vectors) Jacobi(double[] matrix, int m)
    {
        var a = (double[])matrix.Clone();
        var v = new double[m * m];
        for (int i = 0; i < m; i++) v[i * m + i] = 1;
        double scale = 0;
        for (int i = 0; i < m * m; i++) scale += a[i] * a[i];
        double tol = 1e-30 * Math.Max(scale, double.Epsilon);
        for (int sweep = 0; sweep < 100; sweep++)
        {
            double off = 0;
            for (int p = 0; p < m; p++) for (int q = p + 1; q < m; q++) off += a[p * m + q] * a[p * m + q];
            if (off <= tol) break;
            for (int p = 0; p < m - 1; p++)
                for (int q = p + 1; q < m; q++)
                {
                    double apq = a[p * m + q];
                    if (Math.Abs(apq) < 1e-300) continue;
                    double app = a[p * m + p], aqq = a[q * m + q];
                    double theta = (aqq - app) / (2 * apq);
                    double t = Math.Sign(theta) / (Math.Abs(theta) + Math.Sqrt(theta * theta + 1));
                    if (theta == 0) t = 1;
                    double c = 1 / Math.Sqrt(t * t + 1), s = t * c;
                    for (int k = 0; k < m; k++)
                    {
                        double akp = a[k * m + p], akq = a[k * m + q];
                        a[k * m + p] = c * akp - s * akq;
                        a[k * m + q] = s * akp + c * akq;
                    }
                    for (int k = 0; k < m; k++)
                    {
                        double apk = a[p * m + k], aqk = a[q * m + k];
                        a[p * m + k] = c * apk - s * aqk;
                        a[q * m + k] = s * apk + c * aqk;
                    }
                    for (int k = 0; k < m; k++)
                    {
                        double vkp = v[k * m + p], vkq = v[k * m + q];
                        v[k * m + p] = c * vkp - s * vkq;
                        v[k * m + q] = s * vkp + c * vkq;
                    }
                }
        }
        var values = new double[m];
        for (int i = 0; i < m; i++) values[i] = a[i * m + i];
        var order = Enumerable.Range(0, m).OrderByDescending(i => values[i]).ThenBy(i => i).ToArray();
        var vals = order.Select(i => values[i]).ToArray();
        var vecs = new double[m][];
        for (int c = 0; c < m; c++)
        {
            vecs[c] = new double[m];
            for (int k = 0; k < m; k++) vecs[c][k] = v[k * m + order[c]];
        }
        return (vals, vecs);
    }

    /// <summary>libtorch's eigh in float64.</summary>
    public static (double[] Values, double[][] Vectors) Torch(double[] matrix, int m)
    {
        using var scope = NewDisposeScope();
        var t = tensor(matrix, new long[] { m, m });
        var (w, vec) = linalg.eigh(t);
        var values = w.Values<double>();
        var vt = vec.t().Values<double>(); // rows = eigenvectors, ascending
        var vals = new double[m];
        var vecs = new double[m][];
        for (int c = 0; c < m; c++)
        {
            int src = m - 1 - c;
            vals[c] = values[src];
            vecs[c] = new double[m];
            Array.Copy(vt, (long)src * m, vecs[c], 0, m);
        }
        return (vals, vecs);
    }
}
