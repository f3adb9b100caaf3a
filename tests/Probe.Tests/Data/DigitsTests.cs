using Xunit;
using Probe.Data;

namespace Probe.Tests.Data;

public class DigitsTests
{
    // Source: UCI optical digits test set (Resources/ATTRIBUTION.md): 1,797 samples, 10 classes of 174..183.
    [Fact]
    public void Digits_HasExpectedShapeRangeAndClassBalance()
    {
        var d = Datasets.Digits();
        Assert.Equal("digits", d.Name);
        Assert.Equal(1797, d.Count);
        Assert.Equal(64, d.Features.Cols);
        Assert.Equal([1, 8, 8], d.SampleShape);
        Assert.True(d.Features.Data.All(v => v >= 0f && v <= 1f));
        Assert.Equal(1f, d.Features.Data.Max());
        Assert.Equal(10, d.ClassCount);
        var counts = d.Labels!.GroupBy(l => l).ToDictionary(g => g.Key, g => g.Count());
        Assert.Equal(10, counts.Count);
        Assert.All(counts.Values, c => Assert.InRange(c, 170, 190));
        // Every value is a multiple of 1/16.
        Assert.True(d.Features.Data.All(v => v * 16 == MathF.Round(v * 16)));
    }

    // Source: SOURCE.md: digits_input.npy is "pixels / 16" for the same 1,797 samples, digits_labels.npy their labels.
    [Fact]
    public void Digits_EqualsReferenceFixturesExactly()
    {
        var d = Datasets.Digits();
        var x = Npy.ReadMatrix(TempDir.Fixture("digits_input.npy"));
        var y = Npy.ReadInt32(TempDir.Fixture("digits_labels.npy"));
        Assert.Equal(x.Rows, d.Features.Rows);
        Assert.Equal(x.Cols, d.Features.Cols);
        Assert.Equal(x.Data, d.Features.Data); // bit-exact, same row order
        Assert.Equal(y, d.Labels);
    }

    [Fact]
    public void Digits_ReturnsAFreshCopyEachCall()
    {
        var a = Datasets.Digits();
        a.Features.Data[0] = 42;
        Assert.NotEqual(42, Datasets.Digits().Features.Data[0]);
    }
}
