using System.Text;
using System.Text.Json;

namespace Probe.Tests.Similarity;

/// <summary>Test helper: a minimal reader of NumPy .npy v1.0 float32 C-order 2-D arrays, plus fixture access.</summary>
internal static class SimilarityTestData
{
    public static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Fixtures", name);

    public static Matrix ReadNpyFloat32(string name)
    {
        var bytes = File.ReadAllBytes(Fixture(name));
        if (bytes[0] != 0x93 || Encoding.ASCII.GetString(bytes, 1, 5) != "NUMPY" || bytes[6] != 1)
            throw new InvalidDataException($"{name} is not an .npy v1.0 file.");
        int headerLen = bytes[8] | (bytes[9] << 8);
        string header = Encoding.ASCII.GetString(bytes, 10, headerLen);
        if (!header.Contains("'descr': '<f4'") || header.Contains("'fortran_order': True"))
            throw new InvalidDataException($"{name}: expected little-endian float32 in C order, header {header}.");
        int open = header.IndexOf("'shape': (", StringComparison.Ordinal) + 10;
        var dims = header[open..header.IndexOf(')', open)].Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(int.Parse).ToArray();
        int rows = dims[0], cols = dims.Length > 1 ? dims[1] : 1;
        var data = new float[rows * cols];
        Buffer.BlockCopy(bytes, 10 + headerLen, data, 0, data.Length * 4);
        return new Matrix(rows, cols, data);
    }

    private static readonly Lazy<JsonElement> Expected = new(() =>
        JsonDocument.Parse(File.ReadAllText(Fixture("expected.json"))).RootElement);

    public static JsonElement Json => Expected.Value;

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
