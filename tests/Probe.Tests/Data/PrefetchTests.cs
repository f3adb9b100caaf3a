using Probe.Data;
using Xunit;

namespace Probe.Tests.Data;

public class PrefetchTests
{
    static Dataset Data(int n) => new("d", Matrix.Create(n, 3, (i, j) => i * 10 + j), Enumerable.Range(0, n).Select(i => i % 4).ToArray(), [3]);

    [Theory]
    [InlineData(0, 1)]
    [InlineData(1, 1)]
    [InlineData(2, 1)]
    [InlineData(3, 3)]
    public void Batches_AreInOrder_AndCoverEverySampleOnce(int prefetch, int workers)
    {
        var d = Data(103);
        var batches = d.Batches(10, prefetch: prefetch, workers: workers).ToList();
        Assert.Equal(11, batches.Count);
        Assert.Equal(Enumerable.Range(0, 11).Select(i => i * 10), batches.Select(b => b.Start));
        Assert.Equal(3, batches[^1].Count);
        Assert.Equal(d.Features.Data, batches.SelectMany(b => b.Values).ToArray());
        Assert.Equal(d.Labels!, batches.SelectMany(b => b.Labels!).ToArray());
    }

    sealed class Counting(IDataset inner, int failAt = -1) : IDataset
    {
        public int Reads;
        public int MaxAhead;
        public volatile int Consumed;
        public string Name => inner.Name;
        public int Count => inner.Count;
        public int[] SampleShape => inner.SampleShape;
        public int[]? Labels => inner.Labels;
        public IReadOnlyList<string>? ClassNames => inner.ClassNames;
        public void ReadBatch(int start, int count, Span<float> destination)
        {
            if (start == failAt) throw new ProbeException("broken sample");
            Interlocked.Increment(ref Reads);
            lock (this) MaxAhead = Math.Max(MaxAhead, start / 10 - Consumed);
            inner.ReadBatch(start, count, destination);
        }
    }

    [Fact]
    public void ReadAhead_IsBounded_AndStopsWhenTheConsumerStops()
    {
        var c = new Counting(Data(1000));
        int seen = 0;
        foreach (var b in c.Batches(10, prefetch: 2, workers: 2))
        {
            Thread.Sleep(2);
            c.Consumed = b.Start / 10 + 1;
            if (++seen == 5) break;
        }
        Assert.True(c.MaxAhead <= 2, $"read {c.MaxAhead} batches ahead");
        int after = c.Reads;
        Thread.Sleep(50);
        Assert.Equal(after, c.Reads); // workers stopped
        Assert.True(after <= 5 + 2);
    }

    [Fact]
    public void ErrorsReachTheConsumer_AtTheirBatch()
    {
        var c = new Counting(Data(100), failAt: 30);
        var got = new List<int>();
        var e = Assert.Throws<ProbeException>(() => { foreach (var b in c.Batches(10)) got.Add(b.Start); });
        Assert.Equal("broken sample", e.Message);
        Assert.Equal([0, 10, 20], got);
    }

    [Fact]
    public void Cancellation_Stops()
    {
        using var cts = new CancellationTokenSource();
        var seen = 0;
        Assert.ThrowsAny<OperationCanceledException>(() =>
        {
            foreach (var _ in Data(1000).Batches(10, cancellation: cts.Token)) if (++seen == 3) cts.Cancel();
        });
        Assert.Equal(3, seen);
    }
}
