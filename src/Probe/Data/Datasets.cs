using System.IO.Compression;

namespace Probe.Data;

/// <summary>Ready-made data sets: the embedded UCI digits and MNIST-style IDX directories.</summary>
public static class Datasets
{
    /// <summary>The directory where Debian's dataset-fashion-mnist package installs Fashion-MNIST.</summary>
    public const string FashionMnistDirectory = "/usr/share/datasets/fashion-mnist";

    const string DigitsResource = "Probe.Data.digits.csv.gz";

    /// <summary>
    /// The UCI optical digits (1,797 samples of 8 x 8 pixels, labels 0..9, CC BY 4.0; see Resources/ATTRIBUTION.md),
    /// embedded in Probe: features are the pixel intensities 0..16 divided by 16, SampleShape [1, 8, 8].
    /// </summary>
    public static Dataset Digits()
    {
        using var res = typeof(Datasets).Assembly.GetManifestResourceStream(DigitsResource)
            ?? throw new InvalidOperationException($"Embedded resource {DigitsResource} is missing from the Probe assembly.");
        using var gz = new GZipStream(res, CompressionMode.Decompress);
        using var reader = new StreamReader(gz);
        var pixels = new List<float>(1797 * 64);
        var labels = new List<int>(1797);
        string? line;
        int lineNo = 0;
        Span<Range> parts = stackalloc Range[66];
        while ((line = reader.ReadLine()) != null)
        {
            lineNo++;
            if (line.Length == 0) continue;
            var span = line.AsSpan();
            int n = span.Split(parts, ',');
            if (n != 65) throw new InvalidOperationException($"Embedded digits line {lineNo} has {n} fields, expected 65.");
            for (int j = 0; j < 65; j++)
            {
                int v = int.Parse(span[parts[j]], System.Globalization.CultureInfo.InvariantCulture);
                if (j < 64)
                {
                    if (v is < 0 or > 16) throw new InvalidOperationException($"Embedded digits line {lineNo}: pixel {v} outside 0..16.");
                    pixels.Add(v / 16f);
                }
                else
                {
                    if (v is < 0 or > 9) throw new InvalidOperationException($"Embedded digits line {lineNo}: label {v} outside 0..9.");
                    labels.Add(v);
                }
            }
        }
        return new Dataset("digits", new Matrix(labels.Count, 64, pixels.ToArray()), labels.ToArray(), [1, 8, 8]).Validate();
    }

    /// <summary>
    /// Reads an MNIST-style directory: train-images-idx3-ubyte(.gz) and train-labels-idx1-ubyte(.gz) when
    /// <paramref name="train"/>, else the t10k-* files. Pixels are divided by 255; SampleShape is [1, rows, cols].
    /// </summary>
    public static Dataset FromIdxDirectory(string dir, bool train = true)
    {
        var (count, rows, cols, pixels, labelBytes) = ReadIdx(dir, train);
        var scale = new float[256];
        for (int i = 0; i < 256; i++) scale[i] = i / 255f;
        var data = new float[pixels.LongLength];
        for (long i = 0; i < pixels.LongLength; i++) data[i] = scale[pixels[i]];
        var labels = new int[count];
        for (int i = 0; i < count; i++) labels[i] = labelBytes[i];
        string name = Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(dir))) + (train ? "-train" : "-test");
        return new Dataset(name, new Matrix(count, checked(rows * cols), data), labels, [1, rows, cols]).Validate();
    }

    /// <summary>Fashion-MNIST's class names in label order.</summary>
    public static readonly IReadOnlyList<string> FashionMnistClassNames =
        ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

    /// <summary>
    /// An MNIST-style directory (see <see cref="FromIdxDirectory"/>) as an 8-bit data set with a transform (default
    /// scale 1/255, so with no options the values equal <see cref="FromIdxDirectory"/>'s). IDX files are small and
    /// gzipped, so the bytes are held in memory (one byte per pixel, a quarter of the floats).
    /// </summary>
    public static ArrayDataset OpenIdxDirectory(string dir, bool train = true, DataTransform? transform = null, IReadOnlyList<string>? classNames = null, string? name = null)
    {
        var (count, rows, cols, pixels, labelBytes) = ReadIdx(dir, train);
        var labels = new int[count];
        for (int i = 0; i < count; i++) labels[i] = labelBytes[i];
        if (classNames != null && labels.Length > 0 && labels.Max() >= classNames.Count)
            throw new ProbeException($"IDX directory '{dir}': labels go up to {labels.Max()} but the data set has {classNames.Count} classes.");
        name ??= Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(dir))) + (train ? "-train" : "-test");
        return new ArrayDataset(name, new MemoryRows(pixels, count, checked(rows * cols)), NpyDType.UInt8, [1, rows, cols], false,
            transform ?? DataTransform.None, labels, classNames);
    }

    /// <summary>Fashion-MNIST from <paramref name="dir"/> (Debian's package by default), with its ten class names.</summary>
    public static ArrayDataset OpenFashionMnist(string dir, bool train, DataTransform? transform = null)
    {
        if (!Directory.Exists(dir))
            throw new ProbeException($"Fashion-MNIST is not installed (no directory {dir}). On Debian or Ubuntu install it with: sudo apt-get install dataset-fashion-mnist. Or download the four IDX files and use idx:DIR.");
        return OpenIdxDirectory(dir, train, transform, FashionMnistClassNames, train ? "fashion-mnist-train" : "fashion-mnist-test");
    }

    /// <summary>The images and labels of an MNIST-style directory (train-* or t10k-* files), checked to agree in count.</summary>
    static (int Count, int Rows, int Cols, byte[] Pixels, byte[] Labels) ReadIdx(string dir, bool train)
    {
        if (!Directory.Exists(dir)) throw new ProbeException($"IDX directory '{dir}' does not exist.");
        string prefix = train ? "train" : "t10k";
        string images = FindIdx(dir, prefix, "images", "idx3-ubyte");
        string labelsPath = FindIdx(dir, prefix, "labels", "idx1-ubyte");
        var (count, rows, cols, pixels) = Idx.ReadImages(images);
        var labelBytes = Idx.ReadLabels(labelsPath);
        if (labelBytes.Length != count)
            throw new ProbeException($"IDX directory '{dir}': '{Path.GetFileName(images)}' holds {count} images but '{Path.GetFileName(labelsPath)}' holds {labelBytes.Length} labels.");
        return (count, rows, cols, pixels, labelBytes);
    }

    static string FindIdx(string dir, string prefix, string kind, string ext)
    {
        string[] names = [$"{prefix}-{kind}-{ext}", $"{prefix}-{kind}-{ext}.gz", $"{prefix}-{kind}.{ext}", $"{prefix}-{kind}.{ext}.gz"];
        foreach (var n in names)
        {
            var p = Path.Combine(dir, n);
            if (File.Exists(p)) return p;
        }
        var present = Directory.EnumerateFiles(dir).Select(Path.GetFileName).Order(StringComparer.Ordinal).Take(10).ToList();
        throw new ProbeException($"IDX directory '{dir}' has no {prefix} {kind} file (looked for {string.Join(", ", names)}); it contains: {(present.Count == 0 ? "nothing" : string.Join(", ", present))}.");
    }
}
