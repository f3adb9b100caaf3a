using Probe.Projection;
using Xunit;

namespace Probe.Tests.Projection;

/// <summary>FFT-interpolated repulsion and the blocked libtorch kNN against brute force from their definitions.</summary>
public class TsneFftTests
{
    /// <summary>sum_j q_ij^2 (y_i - y_j) and sum_j q_ij (j != i), q = 1 / (1 + d^2), by definition in double.</summary>
    static (double[] Rep, double[] Z) Exact(double[] y)
    {
        int n = y.Length / 2;
        var rep = new double[2 * n]; var z = new double[n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
            {
                if (i == j) continue;
                double dx = y[2 * i] - y[2 * j], dy = y[2 * i + 1] - y[2 * j + 1];
                double q = 1 / (1 + dx * dx + dy * dy);
                z[i] += q; rep[2 * i] += q * q * dx; rep[2 * i + 1] += q * q * dy;
            }
        return (rep, z);
    }

    [Theory]
    [InlineData(0.05, 1)]   // tight: the minimum 50 intervals, each much narrower than a unit
    [InlineData(40.0, 2)]   // a spread-out embedding: about one unit per interval
    [InlineData(120.0, 3)]  // wider than the minimum: more intervals
    public void RepulsionMatchesTheExactSums(double spread, int seed)
    {
        var rng = new Random(seed);
        int n = 900;
        var y = new double[2 * n];
        // clusters of different sizes, as an embedding has
        for (int i = 0; i < n; i++)
        {
            int c = i % 7;
            y[2 * i] = spread * (0.12 * c + 0.05 * (rng.NextDouble() - 0.5) * (c + 1));
            y[2 * i + 1] = spread * (0.1 * ((c * 3) % 7) + 0.05 * (rng.NextDouble() - 0.5));
        }
        var (rep, z) = Exact(y);
        var fr = new double[2 * n]; var fz = new double[n];
        new TsneFftRepulsion(n).Compute(y, fr, fz);
        double zs = z.Sum(), fzs = fz.Sum();
        Assert.InRange(Math.Abs(fzs - zs) / zs, 0, 1e-2);
        // the force field relative to its typical size (what the gradient step sees)
        double scale = Math.Sqrt(rep.Select(v => v * v).Average());
        double err = Math.Sqrt(rep.Zip(fr, (a, b) => (a - b) * (a - b)).Average());
        Assert.InRange(err / scale, 0, 3e-2); // about 1 % at 0.8 units per interval, 2 % at 1 (the method at its defaults)
    }

    [Fact]
    public void IntervalCountIsSmoothAndAtLeastTheSpan()
    {
        foreach (double span in new[] { 0.001, 10, 50, 51.5, 97, 250.2 })
        {
            int b = TsneFftRepulsion.Intervals(span);
            Assert.True(b >= TsneFftRepulsion.MinIntervals && b >= span);
            int v = 2 * TsneFftRepulsion.Terms * b;
            foreach (int p in new[] { 2, 3, 5 }) while (v % p == 0) v /= p;
            Assert.Equal(1, v);
        }
    }

    /// <summary>The blocked kNN of large inputs, on OpenBLAS's SGEMM (when this host has it) and on libtorch's.</summary>
    [Fact]
    public void BlockedTorchKnnMatchesBruteForceInDouble()
    {
        // 1,300 rows: two blocks of rows (1,024 and 276), so the second block's offset is used.
        var x = ProjectionTestData.Digits(1300);
        const int k = 31;
        var exact = NearestNeighbours.ExactKnn(x, k);
        foreach (bool torchOnly in new[] { false, true })
        {
            Probe.Similarity.OpenBlas.TorchOnly.Value = torchOnly;
            try
            {
                var (idx, d2) = TsneAffinities.TorchKnn(x, k);
                Assert.Equal(exact, idx);
                for (int i = 0; i < x.Rows; i += 41)
                    for (int t = 0; t < k; t++)
                        Assert.Equal(NearestNeighbours.SquaredDistance(x.Row(i), x.Row(idx[i * k + t])), d2[i * k + t]);
            }
            finally { Probe.Similarity.OpenBlas.TorchOnly.Value = false; }
        }
    }
}
