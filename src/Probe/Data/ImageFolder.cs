using System.Text;
using SkiaSharp;

namespace Probe.Data;

/// <summary>What to do with an image file that cannot be decoded.</summary>
public enum ImageErrorPolicy
{
    /// <summary>Stop with an error naming the file (the default, as torchvision's ImageFolder raises).</summary>
    Stop,
    /// <summary>Leave the file out, count it and list it in <see cref="ImageFolderDataset.Skipped"/>.</summary>
    Skip,
}

/// <summary>An image file left out of a data set and why.</summary>
public sealed record SkippedImage(string Path, string Reason);

/// <summary>
/// A folder of images in torchvision's ImageFolder layout (<c>images:DIR</c>), decoded per batch with SkiaSharp.
/// </summary>
/// <remarks>
/// <para>Order and labels exactly as torchvision's <c>ImageFolder</c>: a class is an immediate sub-folder of the root,
/// classes are sorted by name (ordinal) and numbered in that order; within a class, folders are walked recursively
/// (symbolic links followed), directories in sorted path order and files sorted by name. Files whose extension
/// (case-insensitive) is not one of <see cref="Extensions"/> are skipped and counted in <see cref="OtherFiles"/>.
/// A class folder without any image is an error, as in torchvision.</para>
/// <para>Decoding: every image becomes RGB, as torchvision's loader (<c>Image.open(f).convert("RGB")</c>): gray and
/// palette images are expanded, alpha is dropped (not blended). PNG, JPEG, BMP, WebP and GIF are decoded by SkiaSharp
/// (no colour management and no EXIF rotation, as Pillow); binary PPM/PGM (P5/P6, 8-bit) by Probe; TIFF is not
/// supported (it is an unreadable image). PNG, BMP and PPM decode to the same bytes as Pillow (8 bits per channel; a
/// 16-bit PNG differs, see <see cref="SixteenBitPngs"/>). JPEG decoders may differ
/// by a few levels per value (IDCT, chroma upsampling); on the test fixture (baseline 4:2:0) SkiaSharp 2.88 and
/// Pillow 9.4 gave identical bytes, and the tests allow 8 levels.</para>
/// <para>Opening reads every file's header (in parallel) so that the length, the labels and the sample shape are
/// final before the first batch: an unreadable header stops with the file's path, or with <c>on-error=skip</c> the
/// file is left out and listed in <see cref="Skipped"/>. With <c>on-error=skip</c> every image is also decoded once
/// when opening (a full decode pass), so a file whose pixels are corrupt is skipped too; with the default stop, such a
/// file stops the batch that reads it, naming it. Without crop= every image must have the same shape after resize.</para>
/// </remarks>
public sealed class ImageFolderDataset : IDataset
{
    /// <summary>torchvision's IMG_EXTENSIONS.</summary>
    public static readonly IReadOnlyList<string> Extensions = [".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp"];

    readonly string[] _files;
    readonly SamplePipeline _pipeline;

    public string Name { get; }
    public int Count => _files.Length;
    public int[] SampleShape { get; }
    public int[]? Labels { get; }
    public IReadOnlyList<string>? ClassNames { get; }
    /// <summary>The image files in data set order (full paths).</summary>
    public IReadOnlyList<string> Files => _files;
    /// <summary>Image files left out because they could not be read (only with <see cref="ImageErrorPolicy.Skip"/>).</summary>
    public IReadOnlyList<SkippedImage> Skipped { get; }
    /// <summary>Files that are not images by extension (skipped, as torchvision does).</summary>
    public int OtherFiles { get; }

    /// <summary>
    /// The PNGs of 16 bits per channel among <see cref="Files"/>: they are read at 8 bits, each value its high byte
    /// (v / 256 rounded down, as SkiaSharp decodes them), where torchvision's default loader (Pillow's convert("RGB")) clips
    /// every value above 255, so such a tree gives values torchvision's ImageFolder does not, and loses precision either way.
    /// </summary>
    public IReadOnlyList<string> SixteenBitPngs { get; }

    ImageFolderDataset(string name, string[] files, int[] labels, IReadOnlyList<string> classes, int[] shape, SamplePipeline pipeline, IReadOnlyList<SkippedImage> skipped, int other,
        IReadOnlyList<string> sixteenBit)
    {
        Name = name; _files = files; Labels = labels; ClassNames = classes; SampleShape = shape; _pipeline = pipeline; Skipped = skipped; OtherFiles = other;
        SixteenBitPngs = sixteenBit;
    }

    /// <summary>Opens an ImageFolder tree.</summary>
    public static ImageFolderDataset Open(string root, DataTransform? transform = null, ImageErrorPolicy onError = ImageErrorPolicy.Stop)
    {
        transform ??= DataTransform.None;
        if (!Directory.Exists(root)) throw new ProbeException($"Image folder '{root}' does not exist.");
        string name = Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(root)));
        var classes = Directory.GetDirectories(root).Select(d => Path.GetFileName(d)!).Order(StringComparer.Ordinal).ToList();
        if (classes.Count == 0)
            throw new ProbeException($"Image folder '{root}' has no class folders. The layout is DIR/CLASS/IMAGE (as torchvision's ImageFolder): one sub-folder per class holding its images.");
        var files = new List<string>();
        var labels = new List<int>();
        int other = 0;
        var empty = new List<string>();
        for (int c = 0; c < classes.Count; c++)
        {
            string classDir = Path.Combine(root, classes[c]);
            var dirs = new List<string> { classDir };
            dirs.AddRange(Directory.EnumerateDirectories(classDir, "*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0, IgnoreInaccessible = true }));
            dirs.Sort(StringComparer.Ordinal);
            int before = files.Count;
            foreach (var d in dirs)
                foreach (var f in Directory.GetFiles(d).Order(StringComparer.Ordinal))
                {
                    if (IsImage(f)) { files.Add(f); labels.Add(c); }
                    else other++;
                }
            if (files.Count == before) empty.Add(classes[c]);
        }
        if (empty.Count > 0)
            throw new ProbeException($"Image folder '{root}': class folder{(empty.Count == 1 ? "" : "s")} {string.Join(", ", empty.Select(e => $"'{e}'"))} hold{(empty.Count == 1 ? "s" : "")} no image (extensions: {string.Join(" ", Extensions)}). Remove {(empty.Count == 1 ? "it" : "them")} or add images.");

        // Read every header (and with skip, every image) in parallel; keep the data set order.
        var dims = new (int W, int H)[files.Count];
        var errors = new string?[files.Count];
        var deep = new bool[files.Count];
        Parallel.For(0, files.Count, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount }, i =>
        {
            try
            {
                dims[i] = onError == ImageErrorPolicy.Skip ? DecodeDims(files[i]) : ReadDims(files[i]);
                deep[i] = IsSixteenBitPng(files[i]);
            }
            catch (ImageDecodeException e) { errors[i] = e.Message; }
        });
        var skipped = new List<SkippedImage>();
        var keepFiles = new List<string>();
        var keepLabels = new List<int>();
        var keepDims = new List<(int W, int H)>();
        for (int i = 0; i < files.Count; i++)
        {
            if (errors[i] is string why)
            {
                if (onError == ImageErrorPolicy.Stop)
                    throw new ProbeException($"Cannot read image '{files[i]}': {why}. Remove or fix the file, or add on-error=skip to leave unreadable images out.");
                skipped.Add(new SkippedImage(files[i], why));
                continue;
            }
            keepFiles.Add(files[i]); keepLabels.Add(labels[i]); keepDims.Add(dims[i]);
        }
        if (keepFiles.Count == 0) throw new ProbeException($"Image folder '{root}': none of its {files.Count} images could be read.");
        var pipeline = new SamplePipeline(transform, byteSource: true, name);
        int[]? shape = null;
        string? first = null;
        for (int i = 0; i < keepFiles.Count; i++)
        {
            var s = pipeline.OutputShape([3, keepDims[i].H, keepDims[i].W]);
            if (shape == null) { shape = s; first = keepFiles[i]; continue; }
            if (!s.SequenceEqual(shape))
                throw new ProbeException($"Images in '{root}' differ in shape after the transform: '{first}' gives [{string.Join(", ", shape)}] but '{keepFiles[i]}' gives [{string.Join(", ", s)}]. Add crop=N (torchvision's CenterCrop), with size=N to resize first, so every sample has the same shape.");
        }
        var sixteenBit = Enumerable.Range(0, files.Count).Where(i => deep[i] && errors[i] == null).Select(i => files[i]).ToList();
        return new ImageFolderDataset(name, keepFiles.ToArray(), keepLabels.ToArray(), classes, shape!, pipeline, skipped, other, sixteenBit);
    }

    /// <summary>Whether the file is a PNG whose header (IHDR, right after the signature) declares 16 bits per channel.</summary>
    internal static bool IsSixteenBitPng(string path)
    {
        Span<byte> head = stackalloc byte[25];
        try
        {
            using var fs = File.OpenRead(path);
            if (fs.ReadAtLeast(head, head.Length, throwOnEndOfStream: false) < head.Length) return false;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return false; }
        // 8-byte signature, chunk length (4), "IHDR", width (4), height (4), then the bit depth.
        return head[..8].SequenceEqual(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A })
            && head[12..16].SequenceEqual("IHDR"u8) && head[24] == 16;
    }

    static bool IsImage(string path)
    {
        foreach (var e in Extensions)
            if (path.EndsWith(e, StringComparison.OrdinalIgnoreCase)) return true;
        return false;
    }

    public void ReadBatch(int start, int count, Span<float> destination)
    {
        if (start < 0 || count < 0 || start > Count - count)
            throw new ProbeException($"Rows {start}..{start + count} are outside data set '{Name}' of {Count} samples.");
        int size = this.SampleSize();
        for (int i = 0; i < count; i++)
        {
            string f = _files[start + i];
            byte[] rgb;
            int w, h;
            try { (rgb, w, h) = DecodeRgb(f); }
            catch (ImageDecodeException e)
            {
                throw new ProbeException($"Cannot read image '{f}': {e.Message}. Remove or fix the file, or add on-error=skip to leave unreadable images out.");
            }
            var raw = new[] { 3, h, w };
            var shape = _pipeline.OutputShape(raw);
            if (!shape.SequenceEqual(SampleShape))
                throw new ProbeException($"Image '{f}' changed since the data set was opened: it now gives shape [{string.Join(", ", shape)}], not [{string.Join(", ", SampleShape)}].");
            _pipeline.RunBytes(rgb, raw, destination.Slice(i * size, size));
        }
    }

    sealed class ImageDecodeException(string message) : Exception(message);

    static bool IsPnm(string path) => path.EndsWith(".ppm", StringComparison.OrdinalIgnoreCase) || path.EndsWith(".pgm", StringComparison.OrdinalIgnoreCase);
    static bool IsTiff(string path) => path.EndsWith(".tif", StringComparison.OrdinalIgnoreCase) || path.EndsWith(".tiff", StringComparison.OrdinalIgnoreCase);

    static (int W, int H) DecodeDims(string path)
    {
        var (_, w, h) = DecodeRgb(path);
        return (w, h);
    }

    /// <summary>The width and height from the file's header, without decoding pixels.</summary>
    static (int W, int H) ReadDims(string path)
    {
        if (IsTiff(path)) throw new ImageDecodeException("TIFF images are not supported (SkiaSharp has no TIFF decoder); convert them to PNG");
        if (IsPnm(path)) { var (_, _, w, h, _) = ReadPnmHeader(path); return (w, h); }
        using var codec = CreateCodec(path);
        return (codec.Info.Width, codec.Info.Height);
    }

    static SKCodec CreateCodec(string path)
    {
        SKCodec? codec;
        SKCodecResult result;
        try { codec = SKCodec.Create(path, out result); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new ImageDecodeException(e.Message); }
        if (codec == null) throw new ImageDecodeException(result == SKCodecResult.Success ? "not a decodable image" : $"not a decodable image ({result})");
        if (codec.Info.Width < 1 || codec.Info.Height < 1)
        {
            codec.Dispose();
            throw new ImageDecodeException($"it declares {codec.Info.Width} x {codec.Info.Height} pixels");
        }
        return codec;
    }

    /// <summary>Decodes an image file to planar RGB bytes (3 x H x W).</summary>
    internal static (byte[] Rgb, int W, int H) DecodeRgb(string path)
    {
        if (IsTiff(path)) throw new ImageDecodeException("TIFF images are not supported (SkiaSharp has no TIFF decoder); convert them to PNG");
        if (IsPnm(path)) return DecodePnm(path);
        using var codec = CreateCodec(path);
        int w = codec.Info.Width, h = codec.Info.Height;
        var info = new SKImageInfo(w, h, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        var result = codec.GetPixels(info, out byte[] rgba);
        if (result != SKCodecResult.Success)
            throw new ImageDecodeException(result == SKCodecResult.IncompleteInput ? "the file is truncated (incomplete image data)" : $"its pixels cannot be decoded ({result})");
        int n = w * h;
        var planar = new byte[3 * n];
        for (int i = 0; i < n; i++)
        {
            planar[i] = rgba[4 * i];
            planar[n + i] = rgba[4 * i + 1];
            planar[2 * n + i] = rgba[4 * i + 2];
        }
        return (planar, w, h);
    }

    static (string Magic, long DataOffset, int W, int H, int MaxVal) ReadPnmHeader(string path)
    {
        byte[] head;
        try
        {
            using var fs = File.OpenRead(path);
            head = new byte[Math.Min(fs.Length, 512)];
            fs.ReadExactly(head);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new ImageDecodeException(e.Message); }
        int p = 0;
        string Token()
        {
            while (p < head.Length)
            {
                if (head[p] == '#') { while (p < head.Length && head[p] != '\n') p++; }
                else if (char.IsWhiteSpace((char)head[p])) p++;
                else break;
            }
            int s = p;
            while (p < head.Length && !char.IsWhiteSpace((char)head[p]) && head[p] != '#') p++;
            return Encoding.ASCII.GetString(head, s, p - s);
        }
        string magic = Token();
        if (magic is not ("P5" or "P6")) throw new ImageDecodeException($"PPM/PGM images must be binary (P5 or P6), this one starts with '{magic}'");
        if (!int.TryParse(Token(), out int w) || !int.TryParse(Token(), out int h) || !int.TryParse(Token(), out int max) || w < 1 || h < 1)
            throw new ImageDecodeException("its PPM/PGM header is unreadable");
        if (max != 255) throw new ImageDecodeException($"PPM/PGM with maximum value {max} is not supported (only 8-bit, 255)");
        return (magic, p + 1, w, h, max);
    }

    static (byte[] Rgb, int W, int H) DecodePnm(string path)
    {
        var (magic, offset, w, h, _) = ReadPnmHeader(path);
        int c = magic == "P6" ? 3 : 1;
        long need = (long)w * h * c;
        byte[] data;
        try
        {
            using var fs = File.OpenRead(path);
            if (fs.Length - offset < need) throw new ImageDecodeException("the file is truncated (incomplete image data)");
            fs.Position = offset;
            data = new byte[need];
            fs.ReadExactly(data);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new ImageDecodeException(e.Message); }
        int n = w * h;
        var planar = new byte[3 * n];
        for (int i = 0; i < n; i++)
            for (int k = 0; k < 3; k++) planar[k * n + i] = c == 3 ? data[3 * i + k] : data[i];
        return (planar, w, h);
    }
}
