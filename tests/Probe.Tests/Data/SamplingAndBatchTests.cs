using Xunit;
using Probe.Data;

namespace Probe.Tests.Data;

public class SamplingAndBatchTests
{
    static Dataset Labelled(int[] labels) =>
        new("t", Matrix.Create(labels.Length, 2, (i, j) => i * 2 + j), labels, [2]);

    [Fact]
    public void Sample_SameSeedSameIndices_SortedAndDistinct()
    {
        var d = Datasets.Digits();
        var a = d.SampleIndices(500, seed: 3);
        var b = d.SampleIndices(500, seed: 3);
        var c = d.SampleIndices(500, seed: 4);
        Assert.Equal(a, b);
        Assert.NotEqual(a, c);
        Assert.Equal(500, a.Length);
        Assert.Equal(a.Order(), a);
        Assert.Equal(500, a.Distinct().Count());
        var s = d.Sample(500, 3);
        Assert.Equal(a.Select(i => d.Labels![i]), s.Labels);
        Assert.Equal(d.Features.Row(a[7]).ToArray(), s.Features.Row(7).ToArray());
    }

    [Fact]
    public void Sample_Stratified_KeepsClassProportions()
    {
        // 60 of class 0, 30 of class 1, 10 of class 2; keep 20 -> exactly 12, 6, 2.
        var labels = Enumerable.Repeat(0, 60).Concat(Enumerable.Repeat(1, 30)).Concat(Enumerable.Repeat(2, 10)).ToArray();
        var idx = Labelled(labels).SampleIndices(20, seed: 1);
        Assert.Equal(20, idx.Length);
        Assert.Equal([12, 6, 2], idx.GroupBy(i => labels[i]).OrderBy(g => g.Key).Select(g => g.Count()));
        // largest remainder: 3 classes of 1/3 each, keep 4 -> 2, 1, 1 (ties go to the lower class)
        var even = Enumerable.Range(0, 30).Select(i => i % 3).ToArray();
        Assert.Equal([2, 1, 1], Labelled(even).SampleIndices(4, 0).GroupBy(i => even[i]).OrderBy(g => g.Key).Select(g => g.Count()));
    }

    [Fact]
    public void Sample_SmallDataOrUnlabelled()
    {
        var d = Labelled([0, 1, 0]);
        Assert.Same(d, d.Sample(10, 0));
        Assert.Equal([0, 1, 2], d.SampleIndices(3, 0));
        var u = new Dataset("u", new Matrix(50, 1), null, [1]);
        var idx = u.SampleIndices(10, 2);
        Assert.Equal(10, idx.Distinct().Count());
        Assert.Throws<ProbeException>(() => u.SampleIndices(0, 0));
    }

    [Fact]
    public void Batches_LastPartialBatch_AndBatchLargerThanCount()
    {
        var d = Labelled(Enumerable.Range(0, 10).Select(i => i % 3).ToArray());
        var batches = d.Batches(4).ToList();
        Assert.Equal([0, 4, 8], batches.Select(b => b.Offset));
        Assert.Equal([4, 4, 2], batches.Select(b => b.Features.Rows));
        Assert.Equal(d.Features.Data, batches.SelectMany(b => b.Features.Data));
        Assert.Equal(d.Labels, batches.SelectMany(b => b.Labels!));
        var one = d.Batches(100).Single();
        Assert.Equal(0, one.Offset);
        Assert.Equal(10, one.Features.Rows);
        Assert.Equal(d.Labels, one.Labels);
        Assert.Empty(new Dataset("e", new Matrix(0, 2), null, [2]).Batches(5));
        Assert.Throws<ProbeException>(() => d.Batches(0).ToList());
    }
}
