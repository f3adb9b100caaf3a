using Microsoft.Win32.SafeHandles;

namespace Probe.Data;

/// <summary>
/// The binary versions of CIFAR-10 and CIFAR-100 (<c>cifar:DIR?split=train|test</c>), streamed from the files.
/// </summary>
/// <remarks>
/// <para>CIFAR-10: <c>data_batch_1.bin</c> … <c>data_batch_5.bin</c> (train, in that order) and <c>test_batch.bin</c>;
/// each record is 1 label byte then 3,072 pixel bytes (1,024 red, 1,024 green, 1,024 blue, each 32 x 32 row-major).
/// Class names come from <c>batches.meta.txt</c> (one a line, blank lines ignored), or are the ten standard names
/// when that file is absent. CIFAR-100: <c>train.bin</c> and <c>test.bin</c>, records of 2 label bytes (coarse, fine)
/// then the same 3,072 bytes; labels are the fine labels, named by <c>fine_label_names.txt</c> when present.</para>
/// <para>Samples are [3, 32, 32], 8-bit (default scale 1/255, like torchvision's ToTensor). Labels are read when the
/// data set is opened (two bytes per record); pixels are read per batch with positioned reads. A file whose length
/// is not a whole number of records is reported as truncated.</para>
/// </remarks>
public static class Cifar
{
    /// <summary>CIFAR-10's class names in label order.</summary>
    public static readonly IReadOnlyList<string> Cifar10Names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"];

    const int Pixels = 3 * 32 * 32;

    /// <summary>Opens the train or test split of a CIFAR-10 or CIFAR-100 binary directory.</summary>
    public static ArrayDataset Open(string dir, bool train = true, DataTransform? transform = null)
    {
        if (!Directory.Exists(dir)) throw new ProbeException($"CIFAR directory '{dir}' does not exist.");
        bool c10 = File.Exists(Path.Combine(dir, "data_batch_1.bin")) || File.Exists(Path.Combine(dir, "test_batch.bin"));
        bool c100 = File.Exists(Path.Combine(dir, "train.bin")) || File.Exists(Path.Combine(dir, "test.bin"));
        if (!c10 && !c100)
        {
            var present = Directory.EnumerateFileSystemEntries(dir).Select(Path.GetFileName).Order(StringComparer.Ordinal).Take(12).ToList();
            throw new ProbeException($"'{dir}' is not a CIFAR binary directory: it has neither data_batch_1.bin / test_batch.bin (CIFAR-10) nor train.bin / test.bin (CIFAR-100). It contains: {(present.Count == 0 ? "nothing" : string.Join(", ", present))}. Download the binary version (cifar-10-binary.tar.gz) and point at the folder holding the .bin files.");
        }
        string[] names = c10
            ? (train ? Enumerable.Range(1, 5).Select(i => $"data_batch_{i}.bin").ToArray() : ["test_batch.bin"])
            : [train ? "train.bin" : "test.bin"];
        var missing = names.Where(n => !File.Exists(Path.Combine(dir, n))).ToList();
        if (missing.Count > 0)
            throw new ProbeException($"CIFAR-{(c10 ? "10" : "100")} directory '{dir}' lacks {string.Join(", ", missing)} for the {(train ? "train" : "test")} split.");
        int labelBytes = c10 ? 1 : 2;
        int record = labelBytes + Pixels;
        int classes = c10 ? 10 : 100;
        var rows = new CifarRows(labelBytes, record);
        try
        {
            var labels = new List<int>();
            foreach (var n in names)
            {
                string path = Path.Combine(dir, n);
                long len = new FileInfo(path).Length;
                if (len == 0) throw new ProbeException($"CIFAR file '{path}' is empty.");
                if (len % record != 0)
                    throw new ProbeException($"CIFAR file '{path}' is truncated or not a CIFAR-{(c10 ? "10" : "100")} batch: its {len} bytes are {len / record} whole records of {record} bytes and {len % record} bytes over.");
                if (len / record > int.MaxValue - labels.Count) throw new ProbeException($"CIFAR file '{path}' is too large.");
                int count = (int)(len / record);
                var handle = rows.Add(path, count);
                var buf = new byte[Math.Min(count, 4096) * record];
                for (int start = 0; start < count; start += 4096)
                {
                    int k = Math.Min(4096, count - start);
                    ReadExactly(handle, buf.AsSpan(0, k * record), (long)start * record, path);
                    for (int i = 0; i < k; i++)
                    {
                        int label = buf[i * record + labelBytes - 1];
                        if (label >= classes)
                            throw new ProbeException($"CIFAR file '{path}': record {start + i} has label {label}, but CIFAR-{classes} labels are 0..{classes - 1}; is it the right version of the data set?");
                        labels.Add(label);
                    }
                }
            }
            IReadOnlyList<string>? classNames = c10 ? ReadNames(Path.Combine(dir, "batches.meta.txt")) ?? Cifar10Names : ReadNames(Path.Combine(dir, "fine_label_names.txt"));
            if (classNames != null && classNames.Count < labels.Max() + 1)
                throw new ProbeException($"CIFAR directory '{dir}': the class names file lists {classNames.Count} names but labels go up to {labels.Max()}.");
            string name = (c10 ? "cifar10" : "cifar100") + (train ? "-train" : "-test");
            return new ArrayDataset(name, rows, NpyDType.UInt8, [3, 32, 32], false, transform ?? DataTransform.None, labels.ToArray(), classNames);
        }
        catch { rows.Dispose(); throw; }
    }

    static IReadOnlyList<string>? ReadNames(string path) =>
        File.Exists(path) ? File.ReadAllLines(path).Select(l => l.Trim()).Where(l => l.Length > 0).ToList() : null;

    static void ReadExactly(SafeFileHandle h, Span<byte> dst, long offset, string path)
    {
        int got = 0;
        while (got < dst.Length)
        {
            int n = RandomAccess.Read(h, dst[got..], offset + got);
            if (n == 0) throw new ProbeException($"CIFAR file '{path}' ended early (it changed while being read?).");
            got += n;
        }
    }

    /// <summary>The pixel bytes of records spread over several files, read with positioned reads (thread-safe).</summary>
    sealed class CifarRows(int labelBytes, int record) : IRawRows
    {
        readonly List<(SafeFileHandle Handle, string Path, int First, int Count)> _files = [];
        public int Count { get; private set; }
        public int RowBytes => Pixels;

        public SafeFileHandle Add(string path, int count)
        {
            SafeFileHandle h;
            try { h = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new ProbeException($"Cannot open CIFAR file '{path}': {e.Message}", e);
            }
            _files.Add((h, path, Count, count));
            Count += count;
            return h;
        }

        public void Read(int start, int count, Span<byte> destination)
        {
            var buf = new byte[Math.Min(count, 256) * record];
            int done = 0;
            while (done < count)
            {
                int idx = start + done;
                var f = _files.First(x => idx >= x.First && idx < x.First + x.Count);
                int n = Math.Min(Math.Min(count - done, 256), f.First + f.Count - idx);
                var span = buf.AsSpan(0, n * record);
                ReadExactly(f.Handle, span, (long)(idx - f.First) * record, f.Path);
                for (int i = 0; i < n; i++)
                    span.Slice(i * record + labelBytes, Pixels).CopyTo(destination.Slice((done + i) * Pixels, Pixels));
                done += n;
            }
        }

        public void Dispose()
        {
            foreach (var f in _files) f.Handle.Dispose();
        }
    }
}
