using Xunit;
using Probe.Data;

namespace Probe.Tests.Data;

public class SyntheticTests
{
    public static TheoryData<string> Kinds() => new() { "xor-clouds", "gaussians", "circles", "spirals", "blobs" };

    static Dataset Make(string kind, int seed, int n = 300) => kind switch
    {
        "xor-clouds" => Synthetic.XorClouds(n, 0.1, seed),
        "gaussians" => Synthetic.Gaussians(n, 0.5, seed, dims: 3),
        "circles" => Synthetic.Circles(n, 0.05, seed),
        "spirals" => Synthetic.Spirals(n, 0.05, seed),
        "blobs" => Synthetic.Blobs(n, classes: 4, dims: 5, noise: 1.0, seed: seed),
        _ => throw new ArgumentException(kind),
    };

    [Theory]
    [MemberData(nameof(Kinds))]
    public void SameSeed_IdenticalArrays_DifferentSeed_Different(string kind)
    {
        var a = Make(kind, 1);
        var b = Make(kind, 1);
        var c = Make(kind, 2);
        Assert.Equal(a.Features.Data, b.Features.Data);
        Assert.Equal(a.Labels, b.Labels);
        Assert.NotEqual(a.Features.Data, c.Features.Data);
        a.Validate();
        Assert.Equal(300, a.Count);
        Assert.Equal([a.Features.Cols], a.SampleShape);
        Assert.Equal(0, a.Features.CountNonFinite());
        // balanced classes
        var counts = a.Labels!.GroupBy(l => l).Select(g => g.Count()).ToArray();
        Assert.True(counts.Max() - counts.Min() <= 1);
    }

    [Fact]
    public void Xor_IsTheTruthTable()
    {
        var d = Synthetic.Xor();
        for (int i = 0; i < 4; i++)
            Assert.Equal((int)d.Features[i, 0] ^ (int)d.Features[i, 1], d.Labels![i]);
    }

    [Fact]
    public void XorClouds_LabelIsXorOfNearestCorner()
    {
        var d = Synthetic.XorClouds(400, 0.1, 3);
        for (int i = 0; i < d.Count; i++)
        {
            int a = d.Features[i, 0] > 0.5f ? 1 : 0, b = d.Features[i, 1] > 0.5f ? 1 : 0;
            // noise 0.1: crossing the 0.5 midline needs a 5-sigma draw
            Assert.Equal(a ^ b, d.Labels![i]);
        }
    }

    [Fact]
    public void Circles_RadiiMatchTheirClass()
    {
        var d = Synthetic.Circles(400, 0.0, 4, factor: 0.3);
        for (int i = 0; i < d.Count; i++)
        {
            double r = Math.Sqrt(d.Features[i, 0] * d.Features[i, 0] + d.Features[i, 1] * d.Features[i, 1]);
            Assert.Equal(d.Labels![i] == 0 ? 1.0 : 0.3, r, 5);
        }
    }

    [Fact]
    public void Spirals_WithoutNoise_LieOnTheirArchimedeanArms()
    {
        // Construction (Synthetic.Spirals docs): r = 0.05 + 0.95 t, angle = 2 pi 1.75 t + pi * label, t in [0, 1].
        var d = Synthetic.Spirals(1000, 0.0, 5);
        for (int i = 0; i < d.Count; i++)
        {
            double x = d.Features[i, 0], y = d.Features[i, 1];
            double r = Math.Sqrt(x * x + y * y);
            Assert.InRange(r, 0.05 - 1e-5, 1 + 1e-5);
            double t = (r - 0.05) / 0.95;
            double expected = 2 * Math.PI * 1.75 * t + Math.PI * d.Labels![i];
            double diff = Math.IEEERemainder(Math.Atan2(y, x) - expected, 2 * Math.PI);
            Assert.True(Math.Abs(diff) < 1e-3, $"row {i}: angle off by {diff}");
        }
    }

    [Fact]
    public void Blobs_HaveRequestedClassesAndDims_AndClusterTightly()
    {
        var d = Synthetic.Blobs(500, classes: 5, dims: 4, noise: 0.1, seed: 9);
        Assert.Equal(5, d.ClassCount);
        Assert.Equal(4, d.Features.Cols);
        // with noise 0.1 every point is within 1 of its class mean (10 sigma in 4-d)
        for (int c = 0; c < 5; c++)
        {
            var rows = Enumerable.Range(0, d.Count).Where(i => d.Labels![i] == c).ToArray();
            var mean = Enumerable.Range(0, 4).Select(j => rows.Average(i => (double)d.Features[i, j])).ToArray();
            Assert.All(rows, i => Assert.True(Enumerable.Range(0, 4).Sum(j => Math.Pow(d.Features[i, j] - mean[j], 2)) < 1));
        }
    }

    [Fact]
    public void Gaussians_NoiseIsTheStandardDeviation()
    {
        var d = Synthetic.Gaussians(20000, 0.5, 11, dims: 1);
        var zero = Enumerable.Range(0, d.Count).Where(i => d.Labels![i] == 0).Select(i => (double)d.Features[i, 0]).ToArray();
        double mean = zero.Average();
        double sd = Math.Sqrt(zero.Sum(v => (v - mean) * (v - mean)) / (zero.Length - 1));
        Assert.InRange(mean, -1.03, -0.97); // standard error 0.5 / sqrt(10000) = 0.005
        Assert.InRange(sd, 0.48, 0.52);
    }

    [Fact]
    public void BadArguments_Throw()
    {
        Assert.Throws<ProbeException>(() => Synthetic.Spirals(0));
        Assert.Throws<ProbeException>(() => Synthetic.Blobs(10, classes: 0));
        Assert.Throws<ProbeException>(() => Synthetic.Gaussians(10, noise: -1));
        Assert.Throws<ProbeException>(() => Synthetic.Gaussians(10, noise: double.NaN));
    }
}
