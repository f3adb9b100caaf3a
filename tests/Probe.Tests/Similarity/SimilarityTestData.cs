using System.Text;
using System.Text.Json;

namespace Probe.Tests.Similarity;

/// <summary>Test helper: a minimal reader of NumPy .npy v1.0 float32 C-order 2-D arrays, plus fixture access.</summary>
internal static class SimilarityTestData
{
    public static string Fixture(string name) => ReferenceFixtures.Shared(name);

    public static Matrix ReadNpyFloat32(string name) => Probe.Data.Npy.ReadMatrix(Fixture(name));

    public static JsonElement Json => ReferenceFixtures.Expected;

    /// <summary>A deterministic Gaussian matrix (Box-Muller on a seeded Random).</summary>
    public static Matrix Gaussian(int rows, int cols, int seed, double scale = 1, double shift = 0)
    {
        var rng = new Random(seed);
        var m = new Matrix(rows, cols);
        for (int i = 0; i < m.Data.Length; i++)
        {
            double u = 1 - rng.NextDouble(), v = rng.NextDouble();
            m.Data[i] = (float)(shift + scale * Math.Sqrt(-2 * Math.Log(u)) * Math.Cos(2 * Math.PI * v));
        }
        return m;
    }

    /// <summary>A random orthogonal d x d matrix (Gram-Schmidt of a Gaussian matrix, in double).</summary>
    public static double[,] RandomOrthogonal(int d, int seed)
    {
        var g = Gaussian(d, d, seed);
        var q = new double[d, d];
        for (int j = 0; j < d; j++)
        {
            var v = new double[d];
            for (int i = 0; i < d; i++) v[i] = g[i, j];
            for (int k = 0; k < j; k++)
            {
                double dot = 0;
                for (int i = 0; i < d; i++) dot += v[i] * q[i, k];
                for (int i = 0; i < d; i++) v[i] -= dot * q[i, k];
            }
            double norm = Math.Sqrt(v.Sum(a => a * a));
            for (int i = 0; i < d; i++) q[i, j] = v[i] / norm;
        }
        return q;
    }

    public static Matrix Multiply(Matrix x, double[,] q)
    {
        int d2 = q.GetLength(1);
        return Matrix.Create(x.Rows, d2, (i, j) =>
        {
            double s = 0;
            for (int k = 0; k < x.Cols; k++) s += x[i, k] * q[k, j];
            return (float)s;
        });
    }

    public static Matrix Map(Matrix x, Func<float, float> f) => Matrix.Create(x.Rows, x.Cols, (i, j) => f(x[i, j]));

    public static void AssertRelative(double expected, double actual, double tol, string what = "")
    {
        double err = Math.Abs(actual - expected) / Math.Max(Math.Abs(expected), 1e-300);
        Xunit.Assert.True(err <= tol, $"{what}: expected {expected:R}, got {actual:R} (relative error {err:E2} > {tol:E0})");
    }
}
