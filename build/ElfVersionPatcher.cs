#nullable enable
// Makes TorchSharp's native library load on hosts whose libstdc++ is older than the one it was linked against.
// Used in two places: the MSBuild inline task below (build/TorchSharpNativePatch.targets) and the unit tests.
using System;
using System.Collections.Generic;
using System.IO;
using System.Text;

namespace Probe.Build
{
    /// <summary>What <see cref="ElfVersionPatcher.MakeVersionNeedWeak"/> did to a file.</summary>
    internal enum ElfPatchOutcome { Patched, AlreadyWeak, VersionNotNeeded }

    /// <summary>
    /// Minimal, validating reader/writer of the ELF64 little-endian symbol-versioning sections
    /// (<c>.gnu.version_r</c> = SHT_GNU_verneed, <c>.gnu.version_d</c> = SHT_GNU_verdef). Offsets come from the
    /// section headers and the linked string table, never from constants.
    /// </summary>
    internal static class ElfVersionPatcher
    {
        const uint ShtGnuVerdef = 0x6ffffffd;
        const uint ShtGnuVerneed = 0x6ffffffe;
        const ushort VerFlgWeak = 0x2;

        sealed class Section { public uint Type; public ulong Offset; public ulong Size; public uint Link; public uint Info; }

        /// <summary>Marks the version-need entry <paramref name="versionName"/> (for example GLIBCXX_3.4.32) weak.</summary>
        public static ElfPatchOutcome MakeVersionNeedWeak(string path, string versionName)
        {
            byte[] elf = File.ReadAllBytes(path);
            var sections = ReadSections(elf, path);
            foreach (var sec in sections)
            {
                if (sec.Type != ShtGnuVerneed) continue;
                var strtab = StringTable(sections, sec.Link, elf.Length, path);
                ulong entry = sec.Offset;
                for (uint i = 0; i < sec.Info; i++)
                {
                    Check(entry + 16 <= sec.Offset + sec.Size, path, "verneed entry runs past its section");
                    ushort cnt = U16(elf, entry + 2);
                    uint aux = U32(elf, entry + 8);
                    uint next = U32(elf, entry + 12);
                    ulong a = entry + aux;
                    for (int j = 0; j < cnt; j++)
                    {
                        Check(a + 16 <= sec.Offset + sec.Size, path, "vernaux entry runs past its section");
                        string name = CString(elf, strtab, U32(elf, a + 8), path);
                        if (name == versionName)
                        {
                            ushort flags = U16(elf, a + 4);
                            if ((flags & VerFlgWeak) != 0) return ElfPatchOutcome.AlreadyWeak;
                            flags |= VerFlgWeak;
                            elf[a + 4] = (byte)(flags & 0xff);
                            elf[a + 5] = (byte)(flags >> 8);
                            ReplaceFile(path, elf);
                            return ElfPatchOutcome.Patched;
                        }
                        uint an = U32(elf, a + 12);
                        if (an == 0) break;
                        a += an;
                    }
                    if (next == 0) break;
                    entry += next;
                }
            }
            return ElfPatchOutcome.VersionNotNeeded;
        }

        /// <summary>The version-need entries of a file: (library, version, weak).</summary>
        public static List<(string File, string Version, bool Weak)> VersionNeeds(string path)
        {
            byte[] elf = File.ReadAllBytes(path);
            var sections = ReadSections(elf, path);
            var result = new List<(string, string, bool)>();
            foreach (var sec in sections)
            {
                if (sec.Type != ShtGnuVerneed) continue;
                var strtab = StringTable(sections, sec.Link, elf.Length, path);
                ulong entry = sec.Offset;
                for (uint i = 0; i < sec.Info; i++)
                {
                    ushort cnt = U16(elf, entry + 2);
                    string file = CString(elf, strtab, U32(elf, entry + 4), path);
                    ulong a = entry + U32(elf, entry + 8);
                    for (int j = 0; j < cnt; j++)
                    {
                        result.Add((file, CString(elf, strtab, U32(elf, a + 8), path), (U16(elf, a + 4) & VerFlgWeak) != 0));
                        uint an = U32(elf, a + 12);
                        if (an == 0) break;
                        a += an;
                    }
                    uint next = U32(elf, entry + 12);
                    if (next == 0) break;
                    entry += next;
                }
            }
            return result;
        }

        /// <summary>The version names a shared library defines (its <c>.gnu.version_d</c>).</summary>
        public static HashSet<string> VersionDefinitions(string path)
        {
            byte[] elf = File.ReadAllBytes(path);
            var sections = ReadSections(elf, path);
            var names = new HashSet<string>(StringComparer.Ordinal);
            foreach (var sec in sections)
            {
                if (sec.Type != ShtGnuVerdef) continue;
                var strtab = StringTable(sections, sec.Link, elf.Length, path);
                ulong entry = sec.Offset;
                for (uint i = 0; i < sec.Info; i++)
                {
                    Check(entry + 20 <= sec.Offset + sec.Size, path, "verdef entry runs past its section");
                    ushort cnt = U16(elf, entry + 6);
                    ulong a = entry + U32(elf, entry + 12);
                    for (int j = 0; j < cnt; j++)
                    {
                        names.Add(CString(elf, strtab, U32(elf, a), path));
                        uint an = U32(elf, a + 4);
                        if (an == 0) break;
                        a += an;
                    }
                    uint next = U32(elf, entry + 16);
                    if (next == 0) break;
                    entry += next;
                }
            }
            return names;
        }

        /// <summary>The host's libstdc++.so.6, looked up in the usual library folders; null when none is found.</summary>
        public static string? FindHostLibStdCxx()
        {
            string[] dirs = { "/usr/lib/x86_64-linux-gnu", "/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/lib64", "/usr/lib", "/lib" };
            foreach (var d in dirs)
            {
                var p = Path.Combine(d, "libstdc++.so.6");
                if (File.Exists(p)) return p;
            }
            return null;
        }

        /// <summary>
        /// Writes the patched bytes to a new file beside <paramref name="path"/> and renames it over the old one, so an
        /// output file hard-linked to its NuGet-cache original (CreateHardLinksFor...IfPossible) is detached from it
        /// instead of editing the cache, and a concurrent reader never sees a half-written library.
        /// </summary>
        static void ReplaceFile(string path, byte[] bytes)
        {
            var stamp = File.GetLastWriteTimeUtc(path);
            string temp = path + "." + Guid.NewGuid().ToString("N") + ".tmp";
            try
            {
                File.WriteAllBytes(temp, bytes);
                File.SetLastWriteTimeUtc(temp, stamp);
                File.Replace(temp, path, null); // rename(2): atomic, and a new inode for path
            }
            finally
            {
                if (File.Exists(temp)) File.Delete(temp);
            }
        }

        static List<Section> ReadSections(byte[] elf, string path)
        {
            Check(elf.Length >= 64 && elf[0] == 0x7f && elf[1] == (byte)'E' && elf[2] == (byte)'L' && elf[3] == (byte)'F', path, "not an ELF file");
            Check(elf[4] == 2, path, "not a 64-bit ELF file");
            Check(elf[5] == 1, path, "not a little-endian ELF file");
            ulong shoff = U64(elf, 0x28);
            ushort shentsize = U16(elf, 0x3A);
            ushort shnum = U16(elf, 0x3C);
            Check(shentsize >= 64, path, "section header entries are too small");
            Check(shoff > 0 && shoff + (ulong)shnum * shentsize <= (ulong)elf.Length, path, "section header table lies outside the file");
            var list = new List<Section>(shnum);
            for (int i = 0; i < shnum; i++)
            {
                ulong h = shoff + (ulong)i * shentsize;
                var s = new Section { Type = U32(elf, h + 4), Offset = U64(elf, h + 0x18), Size = U64(elf, h + 0x20), Link = U32(elf, h + 0x28), Info = U32(elf, h + 0x2C) };
                if (s.Type != 8 /* SHT_NOBITS */)
                    Check(s.Offset + s.Size <= (ulong)elf.Length, path, "section " + i + " lies outside the file");
                list.Add(s);
            }
            return list;
        }

        static Section StringTable(List<Section> sections, uint index, int length, string path)
        {
            Check(index < sections.Count, path, "a versioning section links to a missing string table");
            var s = sections[(int)index];
            Check(s.Type == 3 /* SHT_STRTAB */, path, "a versioning section links to a section that is not a string table");
            return s;
        }

        static string CString(byte[] elf, Section strtab, uint offset, string path)
        {
            Check(offset < strtab.Size, path, "a name lies outside its string table");
            int start = (int)(strtab.Offset + offset), end = start;
            int limit = (int)(strtab.Offset + strtab.Size);
            while (end < limit && elf[end] != 0) end++;
            Check(end < limit, path, "an unterminated name in the string table");
            return Encoding.ASCII.GetString(elf, start, end - start);
        }

        static void Check(bool ok, string path, string what)
        {
            if (!ok) throw new InvalidDataException(path + ": " + what);
        }

        static ushort U16(byte[] b, ulong o) { Bounds(b, o, 2); return (ushort)(b[o] | b[o + 1] << 8); }
        static uint U32(byte[] b, ulong o) { Bounds(b, o, 4); return (uint)(b[o] | b[o + 1] << 8 | b[o + 2] << 16 | b[o + 3] << 24); }
        static ulong U64(byte[] b, ulong o) { Bounds(b, o, 8); return U32(b, o) | (ulong)U32(b, o + 4) << 32; }
        static void Bounds(byte[] b, ulong o, int n)
        {
            if (o + (ulong)n > (ulong)b.Length) throw new InvalidDataException("read past the end of the ELF file at offset " + o);
        }
    }

#if !PROBE_NO_MSBUILD_TASK
    /// <summary>
    /// MSBuild task: for each given copy of libLibTorchSharp.so in an output folder, when the host's libstdc++ does
    /// not define <see cref="Version"/>, marks that version-need weak so the dynamic loader accepts the library.
    /// </summary>
    public class PatchElfVersionNeed : Microsoft.Build.Utilities.Task
    {
        [Microsoft.Build.Framework.Required] public Microsoft.Build.Framework.ITaskItem[] Files { get; set; } = Array.Empty<Microsoft.Build.Framework.ITaskItem>();
        [Microsoft.Build.Framework.Required] public string Version { get; set; } = "";

        public override bool Execute()
        {
            if (!System.Runtime.InteropServices.RuntimeInformation.IsOSPlatform(System.Runtime.InteropServices.OSPlatform.Linux)) return true;
            string? host = ElfVersionPatcher.FindHostLibStdCxx();
            if (host == null) { Log.LogMessage(Microsoft.Build.Framework.MessageImportance.High, "Probe: no libstdc++.so.6 found on this host; TorchSharp native library left as it is."); return true; }
            if (ElfVersionPatcher.VersionDefinitions(host).Contains(Version)) return true;
            foreach (var item in Files)
            {
                string path = item.ItemSpec;
                if (!File.Exists(path)) continue;
                var stamp = File.GetLastWriteTimeUtc(path);
                var outcome = ElfVersionPatcher.MakeVersionNeedWeak(path, Version);
                File.SetLastWriteTimeUtc(path, stamp); // keeps incremental copies from re-copying the unpatched original
                string what = outcome switch
                {
                    ElfPatchOutcome.Patched => "marked the need for " + Version + " weak in",
                    ElfPatchOutcome.AlreadyWeak => Version + " is already weak in",
                    _ => "no need for " + Version + " in",
                };
                Log.LogMessage(Microsoft.Build.Framework.MessageImportance.High, "Probe: host libstdc++ lacks " + Version + "; " + what + " " + path);
            }
            return true;
        }
    }
#endif
}
