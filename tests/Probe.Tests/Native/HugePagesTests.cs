using System.Globalization;
using Probe.Native;
using Xunit;

namespace Probe.Tests.Native;

/// <summary>
/// Large arrays are advised into transparent huge pages: read back from the kernel's own account of the
/// process's memory (/proc/self/smaps: the mapping holding the array carries the flag "hg", MADV_HUGEPAGE).
/// </summary>
public class HugePagesTests
{
    // The VmFlags of the mapping that holds the address, from /proc/self/smaps.
    static string[] FlagsAt(long address)
    {
        bool inside = false;
        foreach (var line in File.ReadLines("/proc/self/smaps"))
        {
            int dash = line.IndexOf('-');
            if (dash > 0 && line.IndexOf(' ') > dash && long.TryParse(line[..dash], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out long lo))
            {
                long hi = long.Parse(line[(dash + 1)..line.IndexOf(' ')], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
                inside = address >= lo && address < hi;
            }
            else if (inside && line.StartsWith("VmFlags:", StringComparison.Ordinal))
                return line["VmFlags:".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        }
        throw new InvalidOperationException($"No mapping holds 0x{address:x}.");
    }

    // The first whole page of the array (a large array is not moved by the GC).
    static long PageInside(float[] a)
    {
        var handle = System.Runtime.InteropServices.GCHandle.Alloc(a, System.Runtime.InteropServices.GCHandleType.Pinned);
        try { return ((long)handle.AddrOfPinnedObject() + 4095) & ~4095L; }
        finally { handle.Free(); }
    }

    static bool KernelHasHugePages => File.Exists("/sys/kernel/mm/transparent_hugepage/enabled");

    [Fact]
    public void ALargeArrayIsAdvisedAndKeepsItsValues()
    {
        if (!OperatingSystem.IsLinux() || !KernelHasHugePages) return;
        var a = GC.AllocateUninitializedArray<float>(4 << 20);   // 16 MiB
        for (int i = 0; i < 1000; i++) a[i * 4000] = i;
        Assert.DoesNotContain("hg", FlagsAt(PageInside(a)));
        Assert.True(HugePages.Advise(a));
        Assert.Contains("hg", FlagsAt(PageInside(a)));
        for (int i = 0; i < 1000; i++) Assert.Equal(i, a[i * 4000]);
    }

    [Fact]
    public void ASmallArrayIsLeftAlone()
    {
        Assert.False(HugePages.Advise(new float[(int)(HugePages.MinimumBytes / sizeof(float)) - 1]));
    }
}
