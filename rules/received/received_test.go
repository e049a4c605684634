package received

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

type want struct {
	helo, rdns, ip, by, with, id, for_, date string // date: RFC 3339, "" = none
	auth                                     bool
}

var parseTests = []struct {
	name string
	in   string
	want want
}{
	{"postfix", "from sy.mirrors.kernel.org (sy.mirrors.kernel.org [147.75.48.161]) by mail.lfdr.de (Postfix) with ESMTPS id E050FB4875C for <lists@lfdr.de>; Mon, 8 Sep 2025 10:37:42 +0200 (CEST)",
		want{"sy.mirrors.kernel.org", "sy.mirrors.kernel.org", "147.75.48.161", "mail.lfdr.de", "ESMTPS", "E050FB4875C", "lists@lfdr.de", "2025-09-08T10:37:42+02:00", false}},
	{"postfix unknown", "from mail.example.com (unknown [198.51.100.7]) by mx.example.net (Postfix) with ESMTP id 4Zb; Tue, 1 Apr 2025 09:00:00 +0000",
		want{"mail.example.com", "", "198.51.100.7", "mx.example.net", "ESMTP", "4Zb", "", "2025-04-01T09:00:00Z", false}},
	{"postfix ipv6", "from bombadil.infradead.org (bombadil.infradead.org [IPv6:2607:7c80:54:e::133]) by mail.lfdr.de (Postfix) with ESMTPS id E8861B325F for <lists+openwrt-devel@lfdr.de>; Mon, 16 Sep 2019 00:03:36 +0200 (CEST)",
		want{"bombadil.infradead.org", "bombadil.infradead.org", "2607:7c80:54:e::133", "mail.lfdr.de", "ESMTPS", "E8861B325F", "lists+openwrt-devel@lfdr.de", "2019-09-16T00:03:36+02:00", false}},
	{"postfix tls comments folded", "from 002.mia.mailroute.net (002.mia.mailroute.net [199.89.3.5])\r\n\t(using TLSv1.2 with cipher ECDHE-RSA-AES256-GCM-SHA384 (256/256 bits))\r\n\t(No client certificate requested)\r\n\tby smtp.subspace.kernel.org (Postfix) with ESMTPS id 598032528E5\r\n\tfor <ksummit@lists.linux.dev>; Wed, 19 Feb 2025 20:55:42 +0000 (UTC)",
		want{"002.mia.mailroute.net", "002.mia.mailroute.net", "199.89.3.5", "smtp.subspace.kernel.org", "ESMTPS", "598032528E5", "ksummit@lists.linux.dev", "2025-02-19T20:55:42Z", false}},
	{"postfix authenticated sender", "from [0.0.0.0] (unknown [134.134.139.75]) (Authenticated sender: dave) by blackbird.sr71.net (Postfix) with ESMTPSA id DBD46201D7; Wed, 24 Dec 2025 07:41:34 -0800 (PST)",
		want{"[0.0.0.0]", "", "134.134.139.75", "blackbird.sr71.net", "ESMTPSA", "DBD46201D7", "", "2025-12-24T07:41:34-08:00", true}},
	{"sendmail helo only", "from xent.com ([64.161.22.236]) by dogma.slashnull.org (8.11.6/8.11.6) with ESMTP id g7MFbVZ12617 for <zzzz@spamassassin.taint.org>; Thu, 22 Aug 2002 16:37:32 +0100",
		want{"xent.com", "", "64.161.22.236", "dogma.slashnull.org", "ESMTP", "g7MFbVZ12617", "zzzz@spamassassin.taint.org", "2002-08-22T16:37:32+01:00", false}},
	{"sendmail may be forged", "from red.harvee.home (red [192.168.25.1] (may be forged)) by web.tb.tf (8.11.6/8.11.6) with ESMTP id g7MDO4I16408 for <irregulars@tb.tf>; Thu, 22 Aug 2002 09:24:04 -0400",
		want{"red.harvee.home", "", "192.168.25.1", "web.tb.tf", "ESMTP", "g7MDO4I16408", "irregulars@tb.tf", "2002-08-22T09:24:04-04:00", false}},
	{"sendmail ident", "from yahoo.com (IDENT:nobody@200-204-77-106.dsl.telesp.net.br [200.204.77.106]) by mandark.labs.netnoteinc.com (8.11.2/8.11.2) with SMTP id g4DNgkD16852 for <jm@netnoteinc.com>; Tue, 14 May 2002 00:42:48 +0100",
		want{"yahoo.com", "200-204-77-106.dsl.telesp.net.br", "200.204.77.106", "mandark.labs.netnoteinc.com", "SMTP", "g4DNgkD16852", "jm@netnoteinc.com", "2002-05-14T00:42:48+01:00", false}},
	{"sendmail authenticated bits", "from letrec.thunk.org (guestnat-104-133-160-102.corp.google.com [104.133.160.102] (may be forged)) (authenticated bits=0) (User authenticated as tytso@ATHENA.MIT.EDU) by outgoing.mit.edu (8.14.7/8.12.4) with ESMTP id 289CB71n002170; Fri, 9 Sep 2022 08:11:09 -0400",
		want{"letrec.thunk.org", "", "104.133.160.102", "outgoing.mit.edu", "ESMTP", "289CB71n002170", "", "2022-09-09T08:11:09-04:00", true}},
	{"gmail mx", "from mail-sor-f41.google.com (mail-sor-f41.google.com. [209.85.220.41]) by mx.google.com with SMTPS id i9-20020a25bc09000000b00b5233fa5b7esor3048468ybh.128.2023.03.20.10.37.56 for <someone@gmail.com> (Google Transport Security); Mon, 20 Mar 2023 10:37:56 -0700 (PDT)",
		want{"mail-sor-f41.google.com", "mail-sor-f41.google.com", "209.85.220.41", "mx.google.com", "SMTPS", "i9-20020a25bc09000000b00b5233fa5b7esor3048468ybh.128.2023.03.20.10.37.56", "someone@gmail.com", "2023-03-20T10:37:56-07:00", false}},
	{"gmail submission", "from xz-x1.redhat.com ([142.126.89.138]) by smtp.gmail.com with ESMTPSA id e18sm451364qtr.52.2021.03.10.14.23.05 (version=TLS1_3 cipher=TLS_AES_256_GCM_SHA384 bits=256/256); Wed, 10 Mar 2021 14:23:06 -0800 (PST)",
		want{"xz-x1.redhat.com", "", "142.126.89.138", "smtp.gmail.com", "ESMTPSA", "e18sm451364qtr.52.2021.03.10.14.23.05", "", "2021-03-10T14:23:06-08:00", true}},
	{"gmail internal no from", "by 2002:a05:6504:1234:b0:2a1:1234:5678 with SMTP id c17csp1234567ltb; Mon, 20 Mar 2023 10:37:57 -0700 (PDT)",
		want{"", "", "", "2002:a05:6504:1234:b0:2a1:1234:5678", "SMTP", "c17csp1234567ltb", "", "2023-03-20T10:37:57-07:00", false}},
	{"by 10.x", "by 10.217.136.93 with SMTP id x12mr; Mon, 22 Jan 2024 19:30:47 +0000",
		want{"", "", "", "10.217.136.93", "SMTP", "x12mr", "", "2024-01-22T19:30:47Z", false}},
	{"exim helo", "from pool-108-4-135-94.albyny.fios.verizon.net ([108.4.135.94]:64502 helo=smtpclient.apple) by premium237.web-hosting.com with esmtpsa (TLS1.2) tls TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384 (Exim 4.95) (envelope-from <a@example.org>) id 1of8rr-00DM9X-Kz; Sun, 02 Oct 2022 19:59:31 -0400",
		want{"smtpclient.apple", "pool-108-4-135-94.albyny.fios.verizon.net", "108.4.135.94", "premium237.web-hosting.com", "ESMTPSA", "1of8rr-00DM9X-Kz", "", "2022-10-02T19:59:31-04:00", true}},
	{"exim no rdns", "from [197.184.103.25] (port=22859 helo=rain-197-184-103-25.rain.network) by fenix.svdns.com.br with esmtpsa (TLS1.3) tls TLS_AES_256_GCM_SHA384 (Exim 4.98.1) (envelope-from <x@example.com.br>) id 1uDtJH-00000002t3K-3TZc for wbks4@protonmail.ch; Sat, 10 May 2025 20:08:48 -0300",
		want{"rain-197-184-103-25.rain.network", "", "197.184.103.25", "fenix.svdns.com.br", "ESMTPSA", "1uDtJH-00000002t3K-3TZc", "wbks4@protonmail.ch", "2025-05-10T20:08:48-03:00", true}},
	{"exim helo equals rdns", "from mxout01.bytecamp.net ([212.204.60.217]) by bombadil.infradead.org with esmtps (Exim 4.92.3 #3 (Red Hat Linux)) id 1iW4c3-0003np-67 for openwrt-devel@lists.openwrt.org; Sat, 16 Nov 2019 20:24:09 +0000",
		want{"mxout01.bytecamp.net", "mxout01.bytecamp.net", "212.204.60.217", "bombadil.infradead.org", "ESMTPS", "1iW4c3-0003np-67", "openwrt-devel@lists.openwrt.org", "2019-11-16T20:24:09Z", false}},
	{"exim ipv6 helo literal", "from [2001:db8::5] (helo=[IPv6:2001:db8::5]) by mx.example.org with esmtp (Exim 4.96) id 1abc; Fri, 05 Jan 2024 10:00:00 +0100",
		want{"[IPv6:2001:db8::5]", "", "2001:db8::5", "mx.example.org", "ESMTP", "1abc", "", "2024-01-05T10:00:00+01:00", false}},
	{"hosteurope exim authenticated by", "from [89.101.193.66] (helo=[10.119.25.191]); authenticated by wp530.webpack.hosteurope.de running ExIM with esmtpsa (TLS1.3:ECDHE_RSA_AES_128_GCM_SHA256:128) id 1oZ76o-00041M-4z; Fri, 16 Sep 2022 10:54:02 +0200",
		want{"[10.119.25.191]", "", "89.101.193.66", "wp530.webpack.hosteurope.de", "ESMTPSA", "1oZ76o-00041M-4z", "", "2022-09-16T10:54:02+02:00", true}},
	{"qmail helo", "from 173.121.68.85.rev.sfr.net (HELO hadrien) ([85.68.121.173]) by mail2-relais-roc.national.inria.fr with ESMTP/TLS/DHE-RSA-AES256-GCM-SHA384; 21 Apr 2021 22:37:55 +0200",
		want{"hadrien", "173.121.68.85.rev.sfr.net", "85.68.121.173", "mail2-relais-roc.national.inria.fr", "ESMTP/TLS/DHE-RSA-AES256-GCM-SHA384", "", "", "2021-04-21T22:37:55+02:00", false}},
	{"qmail unknown helo literal", "from unknown (HELO [185.206.151.190]) ([102.160.9.183]) by smtp.emtel.com with ESMTP; 07 Jul 2025 03:56:19 +0400",
		want{"[185.206.151.190]", "", "102.160.9.183", "smtp.emtel.com", "ESMTP", "", "", "2025-07-07T03:56:19+04:00", false}},
	{"qmail remoteinfo", "from unknown (HELO j7.lan) (jo%wwsnet.net@95.90.27.109) by mail.bytecamp.net with ESMTPS (DHE-RSA-AES128-GCM-SHA256 encrypted); 16 Nov 2019 21:23:51 +0100",
		want{"j7.lan", "", "95.90.27.109", "mail.bytecamp.net", "ESMTPS", "", "", "2019-11-16T21:23:51+01:00", false}},
	{"qmail no helo", "from mail.example.org (192.0.2.44) by mx.example.com with SMTP; 16 Aug 2002 14:56:33 -0000",
		want{"mail.example.org", "mail.example.org", "192.0.2.44", "mx.example.com", "SMTP", "", "", "2002-08-16T14:56:33Z", false}},
	{"qmail invoked", "(qmail 22757 invoked from network); 16 Aug 2002 14:56:33 -0000",
		want{"", "", "", "", "", "", "", "2002-08-16T14:56:33Z", false}},
	{"qmail by uid", "(qmail 169636 invoked by uid 0); 11 Mar 2020 18:20:35 -0000",
		want{"", "", "", "", "", "", "", "2020-03-11T18:20:35Z", false}},
	{"microsoft 365 inbound", "from mail-yx1-f68.google.com (74.125.224.68) by DU2PEPF00028D09.mail.protection.outlook.com (10.167.242.169) with Microsoft SMTP Server (version=TLS1_3, cipher=TLS_AES_256_GCM_SHA384) id 15.20.9275.10 via Frontend Transport; Tue, 28 Oct 2025 06:18:27 +0000",
		want{"mail-yx1-f68.google.com", "", "74.125.224.68", "DU2PEPF00028D09.mail.protection.outlook.com", "MICROSOFT SMTP SERVER", "15.20.9275.10", "", "2025-10-28T06:18:27Z", false}},
	{"microsoft ipv6 unbracketed", "from SA1PR12MB1234.namprd12.prod.outlook.com (2603:10b6:806:1a::12) by BN8PR12MB5678.namprd12.prod.outlook.com (2603:10b6:408:99::7) with Microsoft SMTP Server (version=TLS1_2, cipher=TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384) id 15.20.7452.49; Fri, 19 Apr 2024 12:00:01 +0000",
		want{"SA1PR12MB1234.namprd12.prod.outlook.com", "", "2603:10b6:806:1a::12", "BN8PR12MB5678.namprd12.prod.outlook.com", "MICROSOFT SMTP SERVER", "15.20.7452.49", "", "2024-04-19T12:00:01Z", false}},
	{"microsoft mapi", "from CH2PR07MB7863.namprd07.prod.outlook.com ([fe80::4c81:6c3b:54d7:b809]) by CH2PR07MB7863.namprd07.prod.outlook.com ([fe80::4c81:6c3b:54d7:b809%4]) with mapi id 15.20.6838.016; Thu, 28 Sep 2023 05:24:03 +0000",
		want{"CH2PR07MB7863.namprd07.prod.outlook.com", "", "fe80::4c81:6c3b:54d7:b809", "CH2PR07MB7863.namprd07.prod.outlook.com", "MAPI", "15.20.6838.016", "", "2023-09-28T05:24:03Z", false}},
	{"exchange 5.5", "by exchange1.cps.local with Internet Mail Service (5.5.2653.19) id <PXX6AT23>; Thu, 22 Aug 2002 12:46:27 +0100",
		want{"", "", "", "exchange1.cps.local", "INTERNET MAIL SERVICE", "<PXX6AT23>", "", "2002-08-22T12:46:27+01:00", false}},
	{"smtpsvc rdns failed", "from endeavors.com ([66.161.8.83] RDNS failed) by mail.endeavors.com with Microsoft SMTPSVC(5.0.2195.5329); Sat, 21 Sep 2002 16:14:43 -0700",
		want{"endeavors.com", "", "66.161.8.83", "mail.endeavors.com", "MICROSOFT SMTPSVC", "", "", "2002-09-21T16:14:43-07:00", false}},
	{"zmailer", "from mail.cn.fujitsu.com ([183.91.158.132]:52447 \"EHLO heian.cn.fujitsu.com\" rhost-flags-OK-OK-OK-FAIL) by vger.kernel.org with ESMTP id S1725446AbgAFHmf (ORCPT <rfc822;linux-man@vger.kernel.org>); Mon, 6 Jan 2020 02:42:35 -0500",
		want{"heian.cn.fujitsu.com", "mail.cn.fujitsu.com", "183.91.158.132", "vger.kernel.org", "ESMTP", "S1725446AbgAFHmf", "", "2020-01-06T02:42:35-05:00", false}},
	{"vger listexpand", "(majordomo@vger.kernel.org) by vger.kernel.org via listexpand id S1728979AbgDGOyf (ORCPT <rfc822;lists+linux-man@lfdr.de>); Tue, 7 Apr 2020 10:54:35 -0400",
		want{"", "", "", "vger.kernel.org", "", "S1728979AbgDGOyf", "", "2020-04-07T10:54:35-04:00", false}},
	{"mdaemon", "from vmwin2k [208.42.95.5] by vhost.swchs.org [216.185.203.194] with SMTP (MDaemon.v3.5.0.R) for <razor-users@lists.sf.net>; Thu, 12 Sep 2002 19:22:49 -0500",
		want{"vmwin2k", "", "208.42.95.5", "vhost.swchs.org", "SMTP", "", "razor-users@lists.sf.net", "2002-09-12T19:22:49-05:00", false}},
	{"lotus domino", "from PPPa28.dialinx.net_[4.4.205.121] ([4.4.205.121]) by TPENotes.secom.com.tw (Lotus Domino Release 5.0.6a) with SMTP id 2001080414194002:4839 ; Sat, 4 Aug 2001 14:19:40 +0800",
		want{"PPPa28.dialinx.net_[4.4.205.121]", "", "4.4.205.121", "TPENotes.secom.com.tw", "SMTP", "2001080414194002:4839", "", "2001-08-04T14:19:40+08:00", false}},
	{"communigate account", "from [94.26.90.149] (account test@example.com [94.26.90.149] verified) by uc01.example.net (CommuniGate Pro SMTP 5.4.6) with ESMTPA id 62599894; Fri, 29 Aug 2025 02:33:19 +0100",
		want{"[94.26.90.149]", "", "94.26.90.149", "uc01.example.net", "ESMTPA", "62599894", "", "2025-08-29T02:33:19+01:00", true}},
	{"yahoo ehlo", "from 45.86.116.47 (EHLO mta-2d56742f.ip4.emsmtp.us) by 10.217.136.93 with SMTPs (version=TLS1_3 cipher=TLS_AES_128_GCM_SHA256); Mon, 22 Jan 2024 19:30:47 +0000",
		want{"mta-2d56742f.ip4.emsmtp.us", "", "45.86.116.47", "10.217.136.93", "SMTPS", "", "", "2024-01-22T19:30:47Z", false}},
	{"smail double from", "from mx6.airmail.net from [209.196.77.103] by mail5.airmail.net (/\\##/\\ Smail3.1.30.16 #30.56) with esmtp for <ler@example.org> sender: <vip@example.com> id <mP/17oq90-002OfmP@mail5.airmail.net>; Tue, 10 Sep 2002 13:53:50 -0500 (CDT)",
		want{"mx6.airmail.net", "", "209.196.77.103", "mail5.airmail.net", "ESMTP", "<mP/17oq90-002OfmP@mail5.airmail.net>", "ler@example.org", "2002-09-10T13:53:50-05:00", false}},
	{"ipv4-mapped and port", "from host.example ([IPv6:::ffff:192.0.2.9]:2525) by mx.example with ESMTP id 1; 1 Jan 2020 00:00:00 GMT",
		want{"host.example", "", "192.0.2.9", "mx.example", "ESMTP", "1", "", "2020-01-01T00:00:00Z", false}},
	{"bracket port inside", "from [198.51.100.1] ([198.51.100.1:4455] helo=client) by mx.example with esmtp (Exim 4.50) id 1x; Tue, 02 Jan 2007 03:04:05 -0800",
		want{"client", "", "198.51.100.1", "mx.example", "ESMTP", "1x", "", "2007-01-02T03:04:05-08:00", false}},
	{"sendgrid no semicolon", "from MTkwMzg3MQ (unknown) by geopod-ismtpd-17 (SG) with HTTP id omLYtL_aQg6cMhfbehzL0Q Sat, 03 Jan 2026 13:26:36.228 +0000 (UTC)",
		want{"MTkwMzg3MQ", "", "", "geopod-ismtpd-17", "HTTP", "omLYtL_aQg6cMhfbehzL0Q", "", "2026-01-03T13:26:36.228Z", false}},
	{"am/pm month first", "from unknown (HELO mail.gmx.net) (78.165.116.169) by smtp4.cyberec.com with smtp; Aug, 26 2002 12:19:37 PM +0600",
		want{"mail.gmx.net", "", "78.165.116.169", "smtp4.cyberec.com", "SMTP", "", "", "2002-08-26T12:19:37+06:00", false}},
	{"day first numeric date", "from cwg-exmh@DeepEddy.Com by localhost.localdomain with qmail-scanner-0.90 (uvscan: v4.1.60/v4218. . Clean. Processed in 0.361135 secs); 22/08/2002 11:28:44",
		want{"cwg-exmh@DeepEddy.Com", "", "", "localhost.localdomain", "QMAIL-SCANNER-0.90", "", "", "2002-08-22T11:28:44Z", false}},
	{"trailing dots and rdns ip", "from web. (198.51.100.3 [198.51.100.3]) by mx. (Postfix) with SMTP id 1; Mon, 6 Aug 2001 19:04:34 +0000 (Eire)",
		want{"web", "", "198.51.100.3", "mx", "SMTP", "1", "", "2001-08-06T19:04:34Z", false}},
	{"postfix local pickup", "by belphegore.hughes-family.org (Postfix, from userid 76) id D985EA4C92; Fri, 6 Sep 2002 10:56:23 -0700 (PDT)",
		want{"", "", "", "belphegore.hughes-family.org", "", "D985EA4C92", "", "2002-09-06T10:56:23-07:00", false}},
	{"lmtp", "from mx.example.org ([192.0.2.1]) by imap.example.org with LMTP id kLmN; Tue, 05 Mar 2024 11:12:13 +0100",
		want{"mx.example.org", "", "192.0.2.1", "imap.example.org", "LMTP", "kLmN", "", "2024-03-05T11:12:13+01:00", false}},
	{"utf8smtpsa", "from [192.0.2.200] (dsl.example.net [192.0.2.200]) by smtp.example.org with UTF8SMTPSA id q1; Tue, 05 Mar 2024 11:12:13 +0100",
		want{"[192.0.2.200]", "dsl.example.net", "192.0.2.200", "smtp.example.org", "UTF8SMTPSA", "q1", "", "2024-03-05T11:12:13+01:00", true}},
	{"unbalanced parens", "from evil (((( (rdns.example [192.0.2.66]) by mx.example with ESMTP id 9; Wed, 1 May 2024 01:02:03 +0000",
		want{"evil", "rdns.example", "192.0.2.66", "mx.example", "ESMTP", "9", "", "2024-05-01T01:02:03Z", false}},
	{"not authenticated", "from a.example (a.example [192.0.2.5]) (not authenticated) by b.example with ESMTP id 2; Wed, 1 May 2024 01:02:03 +0000",
		want{"a.example", "a.example", "192.0.2.5", "b.example", "ESMTP", "2", "", "2024-05-01T01:02:03Z", false}},
	{"empty", "", want{}},
}

func TestParse(t *testing.T) {
	for _, tt := range parseTests {
		t.Run(tt.name, func(t *testing.T) {
			h := Parse(tt.in)
			w := tt.want
			check := func(field, got, want string) {
				t.Helper()
				if got != want {
					t.Errorf("%s = %q, want %q", field, got, want)
				}
			}
			check("Helo", h.Helo, w.helo)
			check("RDNS", h.RDNS, w.rdns)
			ip := ""
			if h.IP.IsValid() {
				ip = h.IP.String()
			}
			check("IP", ip, w.ip)
			check("By", h.By, w.by)
			check("With", h.With, w.with)
			check("ID", h.ID, w.id)
			check("For", h.For, w.for_)
			if w.date == "" {
				if h.HasDate {
					t.Errorf("HasDate with Date %v, want none", h.Date)
				}
			} else {
				d, err := time.Parse(time.RFC3339Nano, w.date)
				if err != nil {
					t.Fatal(err)
				}
				if !h.HasDate || !h.Date.Equal(d) {
					t.Errorf("Date = %v (%v), want %v", h.Date, h.HasDate, d)
				} else if _, off := h.Date.Zone(); func() bool { _, o := d.Zone(); return o != off }() {
					t.Errorf("Date zone = %v, want %v", h.Date, d)
				}
			}
			if h.Authenticated != w.auth {
				t.Errorf("Authenticated = %v, want %v", h.Authenticated, w.auth)
			}
			if h.Raw != strings.TrimSpace(unfold(tt.in)) {
				t.Errorf("Raw = %q", h.Raw)
			}
		})
	}
}

func TestUnfold(t *testing.T) {
	for in, want := range map[string]string{
		"a\r\n b":       "a b",
		"a\n\tb":        "a\tb",
		"a\r\nb":        "a b",
		"  x  ":         "x",
		"a\r\n\r\n  b ": "a  b",
	} {
		if got := unfold(in); got != want {
			t.Errorf("unfold(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseDate(t *testing.T) {
	for in, want := range map[string]string{
		"Tue, 8 Sep 2025 10:37:42 +0200 (CEST)":   "2025-09-08T10:37:42+02:00",
		" 16 Aug 2002 14:56:33 -0000":             "2002-08-16T14:56:33Z",
		"Mon, 22 Jul 2002 22:06:49 PDT":           "2002-07-22T22:06:49-07:00",
		"Sat, 28 Sep 2002 01:02:03 -05:00":        "2002-09-28T01:02:03-05:00",
		"21-Sep-2002 12:25:55 -0400":              "2002-09-21T12:25:55-04:00",
		"Sep, 14 2002 6:05:59 AM -0100":           "2002-09-14T06:05:59-01:00",
		"Sep, 14 2002 12:05:59 a.m. -0100":        "2002-09-14T00:05:59-01:00",
		"Mon, 2 Sep 02 11:35:54 +0100":            "2002-09-02T11:35:54+01:00",
		"Thu Aug 22 12:00:00 2002":                "2002-08-22T12:00:00Z",
		"2020-03-15 21:02:46.89815779 +0000 UTC":  "2020-03-15T21:02:46.89815779Z",
		"Fri, 27 Aug 2002 11:55:48 +0000 for <x>": "2002-08-27T11:55:48Z",
		"Wed, 31 Dec 2025 23:59:60 +0000":         "2025-12-31T23:59:59Z",
	} {
		got, ok := parseDate(in)
		w, _ := time.Parse(time.RFC3339Nano, want)
		if !ok || !got.Equal(w) {
			t.Errorf("parseDate(%q) = %v, %v; want %v", in, got, ok, w)
		}
	}
	for _, in := range []string{"", "garbage", "31 Feb 2024 10:00:00 +0000", "Mon, 1 Jan 2024", "1 Foo 2024 10:00:00", "99:99:99 1 Jan 2024"} {
		if got, ok := parseDate(in); ok {
			t.Errorf("parseDate(%q) = %v, want failure", in, got)
		}
	}
}

func TestParseAll(t *testing.T) {
	hops := ParseAll([]string{parseTests[0].in, parseTests[1].in})
	if len(hops) != 2 || hops[0].By != "mail.lfdr.de" || hops[1].By != "mx.example.net" {
		t.Fatalf("ParseAll = %+v", hops)
	}
}

func mustPrefixes(s ...string) []netip.Prefix {
	var ps []netip.Prefix
	for _, x := range s {
		ps = append(ps, netip.MustParsePrefix(x))
	}
	return ps
}

func TestLastUntrusted(t *testing.T) {
	hops := ParseAll([]string{
		"from mx2.example.org (mx2.example.org [10.0.0.2]) by mda.example.org (Postfix) with ESMTP id 1; Mon, 1 Jan 2024 00:00:03 +0000",
		"by 10.1.2.3 with SMTP id xyz; Mon, 1 Jan 2024 00:00:02 +0000",
		"from backup.isp.example (backup.isp.example [198.51.100.10]) by mx2.example.org (Postfix) with ESMTP id 2; Mon, 1 Jan 2024 00:00:02 +0000",
		"from spammer.example (dyn.example [203.0.113.66]) by backup.isp.example (Postfix) with ESMTP id 3; Mon, 1 Jan 2024 00:00:01 +0000",
		"from fake (fake [192.0.2.1]) by forged.example with SMTP id 4; Mon, 1 Jan 2024 00:00:00 +0000",
	})
	internal := mustPrefixes("10.0.0.0/8")
	trusted := mustPrefixes("198.51.100.0/24")

	h, i, ok := LastUntrusted(hops, trusted, internal)
	if !ok || i != 3 || h.IP.String() != "203.0.113.66" {
		t.Errorf("LastUntrusted = %v %d %v, want 203.0.113.66 at 3", h.IP, i, ok)
	}
	// First external relay: only internal networks count.
	h, i, ok = LastUntrusted(hops, nil, internal)
	if !ok || i != 2 || h.IP.String() != "198.51.100.10" {
		t.Errorf("first external = %v %d %v, want 198.51.100.10 at 2", h.IP, i, ok)
	}
	// Nothing trusted: the top hop's client.
	if _, i, ok = LastUntrusted(hops, nil, nil); !ok || i != 0 {
		t.Errorf("no trust: index %d %v, want 0", i, ok)
	}
	// Everything trusted.
	if _, i, ok = LastUntrusted(hops, mustPrefixes("0.0.0.0/0"), nil); ok || i != -1 {
		t.Errorf("all trusted: %d %v, want -1 false", i, ok)
	}
	// No IPs at all.
	if _, i, ok = LastUntrusted(ParseAll([]string{"by a with SMTP id 1; Mon, 1 Jan 2024 00:00:00 +0000"}), nil, nil); ok || i != -1 {
		t.Errorf("no IP: %d %v, want -1 false", i, ok)
	}
	// IPv4-mapped prefix.
	if _, i, ok = LastUntrusted(hops[:1], mustPrefixes("::ffff:10.0.0.0/104"), nil); ok {
		t.Errorf("mapped prefix: %d %v, want not ok", i, ok)
	}
}

// TestHostile checks inputs that must stay fast and must not panic.
func TestHostile(t *testing.T) {
	big := strings.Repeat("(", 200000) + "from x ([192.0.2.1])" + strings.Repeat(")", 1000)
	inputs := []string{
		big,
		strings.Repeat(")", 100000),
		strings.Repeat("(a", 50000),
		strings.Repeat("from [", 30000),
		strings.Repeat("by ", 100000) + ";" + strings.Repeat("Mon, ", 10000),
		strings.Repeat("[IPv6:", 20000),
		"from (" + strings.Repeat("(x ", 5000) + strings.Repeat(")", 5000) + ") by y",
		strings.Repeat("\r\n", 10000),
		"from \x00\xff\xfe ([\x00]) by \xff; \xff",
	}
	for _, in := range inputs {
		start := time.Now()
		h := Parse(in)
		if d := time.Since(start); d > 200*time.Millisecond {
			t.Errorf("Parse of %d bytes took %v", len(in), d)
		}
		if h.IP.IsValid() && (h.IP.Is4In6() || h.IP.Zone() != "") {
			t.Errorf("IP %v not normalised", h.IP)
		}
	}
}
