using Probe.Data;
using Xunit;

namespace Probe.Tests.Data;

/// <summary>
/// images:, cifar:, npz:, npy: and the transforms against fixtures written by Pillow 9.4, torchvision 0.14 and NumPy
/// 1.24 (tests/fixtures/images/make_images.py; file names below are the script's outputs).
/// </summary>
public class StreamedFormatsTests
{
    static string F(string name) => Path.Combine(AppContext.BaseDirectory, "fixtures", "images", name);

    static float[] All(IDataset d)
    {
        var v = new float[d.Count * d.SampleSize()];
        d.ReadBatch(0, d.Count, v);
        return v;
    }

    static float[] Floats(string fixture) => (float[])Npy.Read(F(fixture)).Data;
    static int[] Ints(string fixture) => Npy.ReadInt32(F(fixture));

    static IDataset Open(string spec) => DataSource.Parse(spec).Open();

    static float MaxDiff(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        Assert.Equal(a.Length, b.Length);
        float m = 0;
        for (int i = 0; i < a.Length; i++) m = Math.Max(m, Math.Abs(a[i] - b[i]));
        return m;
    }

    static readonly string[] TreeFiles = ["bird/B0.png", "bird/b1.png", "bird/nested/b2.png", "cat/c0.PNG", "cat/c1.jpg", "dog/d0.bmp", "dog/d1.png"];

    [Fact]
    public void ImageFolder_OrderLabelsAndClassNames_AreTorchvisions()
    {
        var d = (ImageFolderDataset)Open($"images:{F("tree")}?crop=18");
        // meta.json "files" and "classes"; tree_labels.npy = ImageFolder.targets.
        Assert.Equal(TreeFiles, d.Files.Select(f => Path.GetRelativePath(F("tree"), f).Replace('\\', '/')));
        Assert.Equal(["bird", "cat", "dog"], d.ClassNames!);
        Assert.Equal(Ints("tree_labels.npy"), d.Labels!);
        Assert.Equal(1, d.OtherFiles); // cat/readme.txt
        Assert.Empty(d.Skipped);
    }

    /// <summary>
    /// A 16-bit PNG (tests/fixtures/images/make_sixteen_bit.py, written by Pillow) is read at 8 bits, each value its
    /// high byte (v / 256 rounded down, as SkiaSharp decodes it), and listed in SixteenBitPngs so the CLI can say so:
    /// torchvision's default loader (Pillow's convert("RGB"), tree16_pillow_rgb.npy) clips every value above 255 instead.
    /// </summary>
    [Fact]
    public void ImageFolder_SixteenBitPngsAreReadAtTheirHighByteAndListed()
    {
        var d = (ImageFolderDataset)Open($"images:{F("tree16")}");
        Assert.Equal([Path.Combine(F("tree16"), "a", "gray16.png")], d.SixteenBitPngs);
        var values = Ints("tree16_values16.npy");
        var got = All(d);
        int size = d.SampleSize();
        Assert.Equal(3 * 16, size);
        for (int c = 0; c < 3; c++)
            for (int i = 0; i < 16; i++)
                Assert.Equal((values[i] >> 8) / 255f, got[c * 16 + i], 1e-6f);
        // Pillow's RGB of the same file: 255 wherever the 16-bit value is above 255 (all but the first pixel here).
        var pillow = Ints("tree16_pillow_rgb.npy");
        Assert.Equal(values.Select(v => Math.Min(v, 255)).SelectMany(v => new[] { v, v, v }), pillow);
    }

    // PNG and BMP are lossless: Probe's values equal torchvision's to 1e-4 (measured: max |diff| 0, identical bytes,
    // since the 8-bit resize follows Pillow's fixed-point arithmetic). The JPEG (sample 4) is decoded by SkiaSharp's
    // libjpeg-turbo, not by Pillow's libjpeg; it is allowed the JPEG tolerance of
    // ImageFolder_Jpeg_IsPillowsPixelsWithinTolerance (8 levels) through the normalisation: 8/255/0.2 = 0.157.
    // Measured on this fixture: 0 as well.
    [Theory]
    [InlineData("resize20_crop16_norm", "size=20&crop=16&mean=0.5,0.4,0.3&std=0.25,0.2,0.3")]
    [InlineData("crop18", "crop=18")]
    [InlineData("gray_resize18_crop15", "gray&size=18&crop=15&mean=0.5&std=0.25")]
    public void ImageFolder_Transforms_EqualTorchvision(string variant, string options)
    {
        var d = Open($"images:{F("tree")}?{options}");
        var got = All(d);
        var expected = Floats($"tree_{variant}.npy");
        int size = d.SampleSize();
        Assert.Equal(expected.Length, got.Length);
        for (int i = 0; i < d.Count; i++)
        {
            float diff = MaxDiff(got.AsSpan(i * size, size), expected.AsSpan(i * size, size));
            if (TreeFiles[i].EndsWith(".jpg")) Assert.True(diff <= 0.157f, $"{variant} JPEG {diff}");
            else Assert.True(diff <= 1e-4f, $"{variant} sample {i} ({TreeFiles[i]}): max |diff| {diff}");
        }
    }

    [Fact]
    public void ImageFolder_Jpeg_IsPillowsPixelsWithinTolerance()
    {
        // jpeg_pixels.npy: Pillow 9.4's decode of cat/c1.jpg (baseline, 4:2:0, quality 92; H x W x 3). SkiaSharp
        // 2.88's libjpeg-turbo and Pillow's libjpeg may differ in IDCT and chroma upsampling, so JPEG gets a tolerance:
        // at most 8 levels per value and a mean of at most 1 level. Measured here: 0 (every value identical).
        using var t = new TempDir();
        Directory.CreateDirectory(t.File("cls"));
        File.Copy(F("tree/cat/c1.jpg"), t.File("cls/c1.jpg"));
        var d = Open($"images:{t.Path}?scale=1");
        var got = All(d);
        var pil = Npy.Read(F("jpeg_pixels.npy"));
        int h = pil.Shape[0], w = pil.Shape[1];
        Assert.Equal([3, h, w], d.SampleShape);
        var bytes = (byte[])pil.Data;
        double sum = 0, max = 0;
        for (int c = 0; c < 3; c++)
            for (int p = 0; p < h * w; p++)
            {
                double diff = Math.Abs(got[c * h * w + p] - bytes[p * 3 + c]);
                sum += diff; max = Math.Max(max, diff);
            }
        Assert.True(max <= 8, $"max {max}");
        Assert.True(sum / (3.0 * h * w) <= 1, $"mean {sum / (3.0 * h * w)}");
    }

    [Fact]
    public void ImageFolder_EmptyClassFolder_IsAnError()
    {
        using var t = new TempDir();
        Directory.CreateDirectory(t.File("a"));
        Directory.CreateDirectory(t.File("b"));
        File.Copy(F("tree/dog/d1.png"), t.File("a/x.png"));
        File.WriteAllText(t.File("b/notes.txt"), "no images");
        var e = Assert.Throws<ProbeException>(() => Open($"images:{t.Path}"));
        Assert.Contains("'b'", e.Message);
        Assert.Contains("no image", e.Message);
        Assert.Contains("class folders", Assert.Throws<ProbeException>(() => Open($"images:{t.File("a")}")).Message);
    }

    [Fact]
    public void ImageFolder_UnreadableImage_StopsWithPath_OrIsSkippedAndListed()
    {
        var e = Assert.Throws<ProbeException>(() => Open($"images:{F("corrupt")}"));
        Assert.Contains("bad.png", e.Message);
        Assert.Contains("on-error=skip", e.Message);
        var d = (ImageFolderDataset)Open($"images:{F("corrupt")}?on-error=skip");
        Assert.Equal(2, d.Count);
        Assert.Equal([0, 1], d.Labels!);
        var s = Assert.Single(d.Skipped);
        Assert.EndsWith("bad.png", s.Path);
        Assert.Equal(2 * 3 * 12 * 12, All(d).Length);
    }

    [Fact]
    public void ImageFolder_DifferentSizesWithoutCrop_AskForCrop()
    {
        var e = Assert.Throws<ProbeException>(() => Open($"images:{F("tree")}?size=20"));
        Assert.Contains("crop=", e.Message);
    }

    [Fact]
    public void Cifar10_EqualsNumpyDecoding_InFileOrder()
    {
        using var test = (ArrayDataset)Open($"cifar:{F("cifar10")}?split=test&mean=0.5&std=0.25");
        Assert.Equal([3, 32, 32], test.SampleShape);
        Assert.Equal(Ints("cifar10_test_labels.npy"), test.Labels!);
        Assert.Equal(["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"], test.ClassNames!);
        Assert.True(MaxDiff(All(test), Floats("cifar10_test_expected.npy")) <= 1e-4f);

        // train: data_batch_1..5 in order (2, 3, 1, 2, 2 records); crop=16 takes rows/cols 8..23.
        using var train = (ArrayDataset)Open($"cifar:{F("cifar10")}?crop=16");
        Assert.Equal(10, train.Count);
        Assert.Equal(Ints("cifar10_train_labels.npy"), train.Labels!);
        Assert.True(MaxDiff(All(train), Floats("cifar10_train_crop16_expected.npy")) <= 1e-6f);
        // A batch across file boundaries equals the same rows read one by one.
        var one = new float[3 * 16 * 16];
        var batch = new float[4 * 3 * 16 * 16];
        train.ReadBatch(1, 4, batch);
        for (int i = 0; i < 4; i++)
        {
            train.ReadBatch(1 + i, 1, one);
            Assert.Equal(one, batch.AsSpan(i * one.Length, one.Length).ToArray());
        }
    }

    [Fact]
    public void Cifar100_FineLabelsAndNames()
    {
        using var d = (ArrayDataset)Open($"cifar:{F("cifar100")}?split=test");
        Assert.Equal(Ints("cifar100_test_fine_labels.npy"), d.Labels!);
        Assert.Equal(100, d.ClassNames!.Count);
        Assert.Equal("fine_00", d.ClassNames[0]);
        Assert.True(MaxDiff(All(d), Floats("cifar100_test_expected.npy")) <= 1e-6f);
        using var train = (ArrayDataset)Open($"cifar:{F("cifar100")}");
        Assert.Equal(Ints("cifar100_train_fine_labels.npy"), train.Labels!);
    }

    [Fact]
    public void Cifar_TruncatedOrMissingBatch_IsAClearError()
    {
        using var t = new TempDir();
        foreach (var f in Directory.GetFiles(F("cifar10"))) File.Copy(f, t.File(Path.GetFileName(f)));
        var bytes = File.ReadAllBytes(t.File("data_batch_3.bin"));
        File.WriteAllBytes(t.File("data_batch_3.bin"), bytes[..^100]);
        var e = Assert.Throws<ProbeException>(() => Open($"cifar:{t.Path}"));
        Assert.Contains("data_batch_3.bin", e.Message);
        Assert.Contains("truncated", e.Message);
        File.Delete(t.File("data_batch_3.bin"));
        Assert.Contains("data_batch_3.bin", Assert.Throws<ProbeException>(() => Open($"cifar:{t.Path}")).Message);
        Assert.Contains("not a CIFAR", Assert.Throws<ProbeException>(() => Open($"cifar:{F("tree")}")).Message);
    }

    [Theory]
    [InlineData("stored.npz")]
    [InlineData("deflated.npz")]
    public void Npz_StoredAndDeflated_GiveNumpysArrays(string file)
    {
        using var d = (ArrayDataset)Open($"npz:{F(file)}?x=images&y=targets");
        Assert.Equal([3, 5, 4], d.SampleShape);
        Assert.Equal([1, 0, 2, 2, 1, 0], d.Labels!);
        Assert.True(MaxDiff(All(d), Floats("npz_expected.npy")) <= 1e-7f);
        // y=auto finds "targets"; a missing key lists the keys there are.
        using (var auto = (ArrayDataset)Open($"npz:{F(file)}?x=images")) Assert.Equal(d.Labels, auto.Labels);
        var e = Assert.Throws<ProbeException>(() => Open($"npz:{F(file)}?x=pixels"));
        Assert.Contains("'pixels'", e.Message);
        Assert.Contains("images, targets", e.Message);
        Assert.Contains("x=KEY", Assert.Throws<ProbeException>(() => Open($"npz:{F(file)}")).Message);
    }

    [Theory]
    [InlineData("int8", "dtype_expected_int.npy")]
    [InlineData("int16", "dtype_expected_int.npy")]
    [InlineData("int32", "dtype_expected_int.npy")]
    [InlineData("int64", "dtype_expected_int.npy")]
    [InlineData("float16", "dtype_expected_float.npy")]
    [InlineData("float32", "dtype_expected_float.npy")]
    [InlineData("float64", "dtype_expected_float.npy")]
    [InlineData("uint8", "dtype_expected_uint8.npy")]
    public void Npy_EveryDtype_ConvertsAsNumpy(string dtype, string expected)
    {
        using var d = (ArrayDataset)Open($"npy:{F($"dtype_{dtype}.npy")}");
        Assert.Equal([2, 3, 3], d.SampleShape);
        Assert.True(MaxDiff(All(d), Floats(expected)) <= 1e-7f);
    }

    [Fact]
    public void Npy_Nhwc_TransposesAndTransformsAsTorchvision()
    {
        var x = F("nhwc_u8.npy");
        using var plain = (ArrayDataset)Open($"npy:{x}?layout=nhwc");
        Assert.Equal([3, 10, 13], plain.SampleShape);
        Assert.True(MaxDiff(All(plain), Floats("nhwc_expected_nchw.npy")) <= 1e-7f);
        // Each array as a PIL image through Resize(8), CenterCrop(7), ToTensor, Normalize(ImageNet).
        using var t = (ArrayDataset)Open($"npy:{x},{F("nhwc_labels.npy")}?layout=nhwc&size=8&crop=7&norm=imagenet");
        Assert.Equal([3, 7, 7], t.SampleShape);
        Assert.Equal([0, 2, 1, 1, 0], t.Labels!);
        Assert.True(MaxDiff(All(t), Floats("nhwc_resize8_crop7_imagenet_expected.npy")) <= 1e-4f);
    }

    [Fact]
    public void Npy_ChannelsLast_WithoutLayout_IsCaughtAgainstTheModel()
    {
        using var d = (ArrayDataset)Open($"npy:{F("nhwc_u8.npy")}");
        Assert.Equal([10, 13, 3], d.SampleShape);
        var e = Assert.Throws<ProbeException>(() => DataLayout.CheckAgainstModel(d, [3, 10, 13]));
        Assert.Contains("layout=nhwc", e.Message);
        Assert.Contains("layout=nhwc", Assert.Throws<ProbeException>(() => DataLayout.CheckAgainstModel(d, [-1, 3, 10, 13])).Message);
        using var ok = (ArrayDataset)Open($"npy:{F("nhwc_u8.npy")}?layout=nhwc");
        DataLayout.CheckAgainstModel(ok, [1, 3, 10, 13]);
        DataLayout.CheckAgainstModel(DataSource.Parse("digits").Open(), [64]);
        Assert.Contains("values", Assert.Throws<ProbeException>(() => DataLayout.CheckAgainstModel(ok, [3, 32, 32])).Message);
    }

    [Fact]
    public void Npy_FloatResize_FollowsTorchvisionAntialias()
    {
        // float_resize6_expected.npy: torchvision.transforms.functional.resize(tensor, 6, antialias=True) on float32.
        // Probe's float path applies Pillow's filter in double; measured max |diff| 5.4e-7; allowed 1e-5.
        using var d = (ArrayDataset)Open($"npy:{F("float_nchw.npy")}?size=6");
        Assert.Equal([2, 6, 7], d.SampleShape);
        float diff = MaxDiff(All(d), Floats("float_resize6_expected.npy"));
        Assert.True(diff <= 1e-5f, $"max |diff| {diff}");
    }

    [Fact]
    public void Npy_WrongLengthLabels_AndTruncatedFile_AreClearErrors()
    {
        using var t = new TempDir();
        Npy.Write(t.File("y.npy"), new[] { 0, 1, 2 });
        var e = Assert.Throws<ProbeException>(() => Open($"npy:{F("nhwc_u8.npy")},{t.File("y.npy")}"));
        Assert.Contains("5 samples", e.Message);
        Assert.Contains("3", e.Message);
        var bytes = File.ReadAllBytes(F("dtype_float32.npy"));
        File.WriteAllBytes(t.File("cut.npy"), bytes[..^7]);
        Assert.Contains("truncated", Assert.Throws<ProbeException>(() => Open($"npy:{t.File("cut.npy")}")).Message);
    }

    [Fact]
    public void Npy_LargeReads_GoThroughPerBatchViews_AndMatchNpyRead()
    {
        using var t = new TempDir();
        var m = Matrix.Create(3000, 700, (i, j) => i * 0.001f - j);
        Npy.Write(t.File("m.npy"), m);
        using var d = (ArrayDataset)Open($"npy:{t.File("m.npy")}");
        Assert.Equal(m.Data, All(d)); // 8.4 MB: more than one 4 MB chunk
        var rows = new float[2 * 700];
        d.ReadBatch(2998, 2, rows);
        Assert.Equal(m.Data.AsSpan(2998 * 700).ToArray(), rows);
        Assert.Throws<ProbeException>(() => d.ReadBatch(2999, 2, rows));
    }

    [Theory]
    [InlineData("size=0", "size")]
    [InlineData("crop=-3", "crop")]
    [InlineData("std=0", "greater than 0")]
    [InlineData("mean=a,b", "mean")]
    [InlineData("scale=1/0", "scale")]
    [InlineData("preset=cifar", "imagenet")]
    [InlineData("layout=chw", "nhwc")]
    [InlineData("gray=maybe", "gray")]
    public void BadOptions_AreRejected(string option, string expected)
    {
        var e = Assert.Throws<ProbeException>(() => DataSource.Parse($"npy:x.npy?{option}"));
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void Transforms_OnVectorsAndChannelCounts_AreCheckedAtOpen()
    {
        Assert.Contains("image-shaped", Assert.Throws<ProbeException>(() => Open("synthetic:blobs?crop=2")).Message);
        Assert.Contains("3 values", Assert.Throws<ProbeException>(() => Open("digits?mean=0.1,0.2,0.3")).Message);
        // Per-feature mean/std on vectors: (x - m_j) / s_j.
        var d = Open("synthetic:xor?mean=1,0&std=2,4").ToMemory();
        Assert.Equal([-0.5f, 0, -0.5f, 0.25f, 0, 0, 0, 0.25f], d.Features.Data);
        // digits keeps its own scale (pixels / 16); scale= multiplies.
        Assert.Equal(Datasets.Digits().Features.Data.Select(v => v * 2).ToArray(), Open("digits?scale=2").ToMemory().Features.Data);
    }

    [Fact]
    public void PresetImagenet_Is_Resize256_Crop224_ImagenetNorm()
    {
        var t = DataSource.Parse($"images:{F("tree")}?preset=imagenet").Transform;
        Assert.Equal(256, t.EffectiveSize);
        Assert.Equal(224, t.EffectiveCrop);
        Assert.Equal([0.485, 0.456, 0.406], t.EffectiveMean!);
        Assert.Equal([0.229, 0.224, 0.225], t.EffectiveStd!);
        var n = DataSource.Parse("cifar:/c?norm=imagenet").Transform;
        Assert.Null(n.EffectiveSize);
        Assert.Equal([0.485, 0.456, 0.406], n.EffectiveMean!);
        Assert.Equal(20, DataSource.Parse("cifar:/c?preset=imagenet&size=20").Transform.EffectiveSize);
        var d = Open($"images:{F("tree")}?preset=imagenet");
        Assert.Equal([3, 224, 224], d.SampleShape);
    }

    [Fact]
    public void FashionMnistNames_AreTheTen()
    {
        Assert.Equal(["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"], Datasets.FashionMnistClassNames);
    }
}
