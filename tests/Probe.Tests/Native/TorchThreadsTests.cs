using System.Collections.Concurrent;
using Probe.Analysis;
using Probe.Native;
using Xunit;

namespace Probe.Tests.Native;

public class TorchThreadsTests
{
    /// <summary>
    /// On Linux, libtorch's CPU build brings libgomp and the team is found (if a libtorch update renamed or replaced it,
    /// the dead-unit study would silently fall back to one thread: this says so). Every part runs exactly once, on more
    /// than one thread when libtorch computes with more than one, and an exception from a part reaches the caller.
    /// </summary>
    [Fact]
    public void RunsEveryPartOnceOnLibtorchsThreadsAndRethrows()
    {
        if (!OperatingSystem.IsLinux()) return;
        Assert.True(TorchThreads.Available, "libtorch's libgomp was not found beside libtorch_cpu.so");
        var seen = new ConcurrentBag<(int Part, int Thread)>();
        Assert.True(TorchThreads.TryRun(5, part => seen.Add((part, Environment.CurrentManagedThreadId))));
        Assert.Equal([0, 1, 2, 3, 4], seen.Select(s => s.Part).Order());
        int threads = Math.Min(2, TorchSharp.torch.get_num_threads());
        Assert.Equal(threads, seen.Select(s => s.Thread).Distinct().Count());
        var e = Assert.Throws<InvalidOperationException>(() => TorchThreads.Run(3, part => { if (part == 1) throw new InvalidOperationException("part 1"); }));
        Assert.Equal("part 1", e.Message);
    }

    /// <summary>
    /// A large batch of dense rows and of feature maps gives the same state, to the bit, on one thread, on .NET's pool and
    /// on libtorch's threads (fixed halves combined in a fixed order), and a NaN in the second half is found on each.
    /// </summary>
    [Theory]
    [InlineData(1)]
    [InlineData(49)]
    public void HalvesGiveTheSameBitsWhereverTheyRun(int positions)
    {
        var rng = new Random(5);
        int units = 64, rows = 2 * UnitStatsAccumulator.ParallelThreshold / (units * positions) + 3;
        var data = new float[rows * units * positions];
        for (int i = 0; i < data.Length; i++) data[i] = rng.NextDouble() < 0.4 ? 0 : (float)(rng.NextDouble() * 3 - 1);
        var states = Enum.GetValues<UnitStatsAccumulator.HalvesOn>().Select(on =>
        {
            var acc = new UnitStatsAccumulator(units, UnitActivation.Auto);
            Assert.Equal(0, acc.AddRows(data, rows, positions, on));
            Assert.Equal(0, acc.AddRows(data.AsSpan(0, 7 * units * positions), 7, positions, on));
            return acc.State();
        }).ToArray();
        foreach (var s in states[1..])
        {
            Assert.Equal(BitConverter.DoubleToInt64Bits(states[0].Mean), BitConverter.DoubleToInt64Bits(s.Mean));
            Assert.Equal(BitConverter.DoubleToInt64Bits(states[0].M2), BitConverter.DoubleToInt64Bits(s.M2));
            Assert.Equal(states[0].MaxRowNormSq, s.MaxRowNormSq);
            Assert.Equal(states[0].Positive, s.Positive);
            Assert.Equal(states[0].SatSigmoid, s.SatSigmoid);
            Assert.Equal(states[0].Min, s.Min);
            Assert.Equal(states[0].Max, s.Max);
            Assert.Equal(states[0].Zeros, s.Zeros);
        }
        data[^5] = float.NaN;
        foreach (var on in Enum.GetValues<UnitStatsAccumulator.HalvesOn>())
            Assert.Equal(1, new UnitStatsAccumulator(units).AddRows(data, rows, positions, on));
    }
}

public class TensorValuesTests
{
    /// <summary>A transposed (non-contiguous) tensor's values come out in row-major order, as TorchSharp's own accessor gives them; a wrong element type is refused.</summary>
    [Fact]
    public void ValuesAreRowMajorAndTyped()
    {
        using var scope = TorchSharp.torch.NewDisposeScope();
        var t = TorchSharp.torch.arange(12, dtype: TorchSharp.torch.ScalarType.Float64).reshape(3, 4).t();
        Assert.False(t.is_contiguous());
        double[] want = [0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11];
        Assert.Equal(want, t.Values<double>());
        var into = new double[13];
        t.CopyValuesTo<double>(into);
        Assert.Equal(want, into[..12]);
        Assert.Throws<ArgumentException>(() => t.Values<float>());
    }
}
