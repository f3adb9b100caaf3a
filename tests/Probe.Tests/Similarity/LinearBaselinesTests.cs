using Probe.Similarity;
using Xunit;

namespace Probe.Tests.Similarity;

/// <summary>
/// Known values of the Kornblith et al. 2019 baselines: with one column each, R^2 = r^2 and the mean canonical
/// correlation = |r| (Pearson r, computed here by its textbook formula); with orthogonal centred columns the canonical
/// correlations are exactly the overlap pattern; invariances follow from the definitions.
/// </summary>
public class LinearBaselinesTests
{
    private static Matrix Random(int n, int d, int seed)
    {
        var r = new Random(seed);
        return Matrix.Create(n, d, (_, _) => (float)(r.NextDouble() * 2 - 1));
    }

    private static double Pearson(Matrix a, Matrix b)
    {
        int n = a.Rows;
        double ma = 0, mb = 0;
        for (int i = 0; i < n; i++) { ma += a[i, 0]; mb += b[i, 0]; }
        ma /= n; mb /= n;
        double sab = 0, saa = 0, sbb = 0;
        for (int i = 0; i < n; i++) { double x = a[i, 0] - ma, y = b[i, 0] - mb; sab += x * y; saa += x * x; sbb += y * y; }
        return sab / Math.Sqrt(saa * sbb);
    }

    [Fact]
    public void OneColumnEachGivesTheSquaredAndAbsoluteCorrelation()
    {
        var x = Random(200, 1, 1);
        var noise = Random(200, 1, 2);
        var y = Matrix.Create(200, 1, (i, _) => -0.7f * x[i, 0] + 0.5f * noise[i, 0] + 3f);
        double r = Pearson(x, y);
        Assert.Equal(r * r, LinearBaselines.LinearRegressionR2(x, y), 12);
        Assert.Equal(r * r, LinearBaselines.LinearRegressionR2(y, x), 12);
        Assert.Equal(Math.Abs(r), LinearBaselines.MeanCcaCorrelation(x, y), 12);
    }

    [Fact]
    public void OrthogonalColumnsGiveExactCanonicalCorrelations()
    {
        // a, b, c: centred, mutually orthogonal columns (+-1 patterns of a 2^3 design). X = [a, b], Y = [a, 2c]:
        // canonical correlations {1, 0} -> mean 0.5; R^2 of X from Y = ||a||^2 / (||a||^2 + ||b||^2) = 0.5.
        float[] a = [1, -1, 1, -1, 1, -1, 1, -1], b = [1, 1, -1, -1, 1, 1, -1, -1], c = [1, 1, 1, 1, -1, -1, -1, -1];
        var x = Matrix.Create(8, 2, (i, j) => j == 0 ? a[i] : b[i]);
        var y = Matrix.Create(8, 2, (i, j) => j == 0 ? a[i] : 2 * c[i]);
        var rho = LinearBaselines.CanonicalCorrelations(x, y);
        Assert.Equal(2, rho.Length);
        Assert.Equal(1.0, rho[0], 12);
        Assert.Equal(0.0, rho[1], 12);
        Assert.Equal(0.5, LinearBaselines.MeanCcaCorrelation(x, y), 12);
        Assert.Equal(0.5, LinearBaselines.LinearRegressionR2(x, y), 12);
        // 3a + b is explained by [a, b] completely.
        Assert.Equal(1.0, LinearBaselines.LinearRegressionR2(Matrix.Create(8, 1, (i, _) => 3 * a[i] + b[i]), x), 12);
    }

    [Fact]
    public void InvariantToInvertibleLinearMapsAndHandlesRankDeficiency()
    {
        var x = Random(100, 6, 3);
        var y = Random(100, 4, 4);
        // xt = x M with M invertible (upper triangular, unit diagonal) plus a duplicated column and a dead one.
        var xt = Matrix.Create(100, 8, (i, j) =>
        {
            if (j == 6) return x[i, 0];
            if (j == 7) return 0f;
            float s = 0;
            for (int k = 0; k <= j; k++) s += x[i, k] * (k == j ? 1f : 0.3f);
            return s;
        });
        Assert.Equal(LinearBaselines.MeanCcaCorrelation(x, y), LinearBaselines.MeanCcaCorrelation(xt, y), 6);
        Assert.Equal(LinearBaselines.LinearRegressionR2(y, x), LinearBaselines.LinearRegressionR2(y, xt), 6);
        Assert.Equal(6, LinearBaselines.OrthonormalBasis(xt).Rank);
        Assert.Equal(1.0, LinearBaselines.MeanCcaCorrelation(x, xt), 9);
        var rho = LinearBaselines.CanonicalCorrelations(x, y);
        Assert.Equal(4, rho.Length);
        Assert.All(rho, v => Assert.InRange(v, 0, 1));
    }

    [Fact]
    public void ConstantAndMismatchedInputsThrow()
    {
        var x = Random(20, 3, 5);
        var constant = Matrix.Create(20, 2, (_, j) => j + 1);
        Assert.Contains("constant", Assert.Throws<Probe.Similarity.ConstantLayerException>(() => LinearBaselines.MeanCcaCorrelation(x, constant)).Message);
        Assert.Contains("constant", Assert.Throws<Probe.Similarity.ConstantLayerException>(() => LinearBaselines.LinearRegressionR2(constant, x)).Message);
        Assert.Throws<ProbeException>(() => LinearBaselines.LinearRegressionR2(x, Random(19, 3, 6)));
    }
}
