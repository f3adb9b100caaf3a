using Xunit;
using Probe.Data;

namespace Probe.Tests.Data;

public class DataSourceTests
{
    [Theory]
    [InlineData("digits", "digits")]
    [InlineData("fashion-mnist", "fashion-mnist?split=train")]
    [InlineData("fashion-mnist?split=TEST", "fashion-mnist?split=test")]
    [InlineData("idx:/data/mnist", "idx:/data/mnist?split=train")]
    [InlineData("idx:/data/mnist?split=test", "idx:/data/mnist?split=test")]
    [InlineData("csv:a.csv", "csv:a.csv?label=last&header=auto")]
    [InlineData("csv:a.csv?header=true&label=species", "csv:a.csv?label=species&header=yes")]
    [InlineData("npy:x.npy", "npy:x.npy")]
    [InlineData("npy:x.npy, y.npy", "npy:x.npy,y.npy")]
    [InlineData("synthetic:spirals?n=2000&seed=1", "synthetic:spirals?n=2000&noise=0.05&seed=1")]
    [InlineData("synthetic:blobs?seed=3&classes=5&dims=8&noise=2.50", "synthetic:blobs?n=600&classes=5&dims=8&noise=2.5&seed=3")]
    [InlineData("synthetic:xor", "synthetic:xor")]
    [InlineData("SYNTHETIC:Circles?noise=0.1", "synthetic:circles?n=400&noise=0.1&seed=0")]
    [InlineData("images:/data/pets", "images:/data/pets?on-error=stop")]
    [InlineData("images:/d?std=0.25&mean=0.5&on-error=SKIP&gray", "images:/d?on-error=skip&gray&mean=0.5&std=0.25")]
    [InlineData("cifar:/c?split=test&mean=0.5&std=0.25", "cifar:/c?split=test&mean=0.5&std=0.25")]
    [InlineData("cifar:/c?preset=ImageNet&crop=200", "cifar:/c?split=train&crop=200&preset=imagenet")]
    [InlineData("npz:a.npz?y=labels", "npz:a.npz?x=auto&y=labels")]
    [InlineData("npy:x.npy,y.npy?layout=NHWC&size=256&crop=224&norm=imagenet", "npy:x.npy,y.npy?layout=nhwc&size=256&crop=224&norm=imagenet")]
    [InlineData("digits?scale=1/255&mean=0.485,0.456,0.406&gray=no", "digits?scale=1/255&mean=0.485,0.456,0.406")]
    [InlineData("fashion-mnist?split=test&size=32", "fashion-mnist?split=test&size=32")]
    public void Parse_GivesCanonicalSpec_WhichRoundTrips(string spec, string canonical)
    {
        var s = DataSource.Parse(spec);
        Assert.Equal(canonical, s.ToString());
        Assert.Equal(s, DataSource.Parse(s.ToString()));
    }

    [Theory]
    [InlineData("mnist", "valid forms")]
    [InlineData("http://x", "valid forms")]
    [InlineData("synthetic:moons", "spirals")]
    [InlineData("synthetic:spirals?classes=3", "valid: n, noise, seed")]
    [InlineData("synthetic:xor?n=3", "takes no parameters")]
    [InlineData("synthetic:spirals?n=-5", "whole number")]
    [InlineData("synthetic:spirals?noise=abc", "noise")]
    [InlineData("synthetic:spirals?n=5&n=6", "twice")]
    [InlineData("idx:/d?split=val", "train or test")]
    [InlineData("idx:", "needs a path")]
    [InlineData("csv:a.csv?sep=;", "valid: label, header")]
    [InlineData("npy:a.npy,b.npy,c.npy", "npy:X.npy")]
    [InlineData("digits?x", "name=value")]
    [InlineData("", "valid forms")]
    [InlineData("images:", "needs a path")]
    [InlineData("images:/d?on-error=ignore", "stop")]
    [InlineData("cifar:/c?layout=nhwc", "valid: split")]
    [InlineData("synthetic:xor?gray&gray", "twice")]
    public void Parse_Rejects_ListingValidChoices(string spec, string expected)
    {
        var e = Assert.Throws<ProbeException>(() => DataSource.Parse(spec));
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void Load_Synthetic_MatchesDirectCall()
    {
        var d = DataSource.Parse("synthetic:blobs?n=90&classes=3&dims=4&seed=7").Load();
        var e = Synthetic.Blobs(90, 3, 4, 1.0, 7);
        Assert.Equal(e.Features.Data, d.Features.Data);
        Assert.Equal(e.Labels, d.Labels);
        Assert.Equal(4, DataSource.Parse("synthetic:xor").Load().Count);
    }

    [Fact]
    public void Load_Digits() => Assert.Equal(1797, DataSource.Parse("digits").Load().Count);

    [Fact]
    public void Load_NpyPairKeepsSampleShape()
    {
        using var t = new TempDir();
        Npy.Write(t.File("x.npy"), new NpyArray(NpyDType.Float32, [3, 1, 2, 2], new float[12]));
        Npy.Write(t.File("y.npy"), new[] { 0, 1, 1 });
        var d = DataSource.Parse($"npy:{t.File("x.npy")},{t.File("y.npy")}").Load();
        Assert.Equal([1, 2, 2], d.SampleShape);
        Assert.Equal([0, 1, 1], d.Labels!);
        Npy.Write(t.File("y2.npy"), new[] { 0, 1 });
        Assert.Contains("2", Assert.Throws<ProbeException>(() => DataSource.Parse($"npy:{t.File("x.npy")},{t.File("y2.npy")}").Load()).Message);
        Assert.Null(DataSource.Parse($"npy:{t.File("x.npy")}").Load().Labels);
    }

    [Fact]
    public void Load_CsvAndIdx()
    {
        using var t = new TempDir();
        File.WriteAllText(t.File("d.csv"), "f1,f2,y\n1,2,0\n3,4,1\n");
        var c = DataSource.Parse($"csv:{t.File("d.csv")}?label=y").Load();
        Assert.Equal([0, 1], c.Labels!);
        File.WriteAllBytes(t.File("t10k-images-idx3-ubyte"), IdxTests.IdxBytes(8, [2, 2, 2], new byte[8]));
        File.WriteAllBytes(t.File("t10k-labels-idx1-ubyte.gz"), IdxTests.Gzip(IdxTests.IdxBytes(8, [2], [3, 4])));
        var d = DataSource.Parse($"idx:{t.Path}?split=test").Load();
        Assert.Equal([3, 4], d.Labels!);
        Assert.Equal([1, 2, 2], d.SampleShape);
    }

    [Fact]
    public void FashionMnist_Missing_TellsHowToInstall()
    {
        var e = Assert.Throws<ProbeException>(() => DataSource.LoadFashionMnist("/nonexistent/fashion-mnist", true));
        Assert.Contains("apt-get install dataset-fashion-mnist", e.Message);
    }
}
