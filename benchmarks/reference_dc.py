"""A plain reference loop, written the way the original DC/DSA/DM code runs, for benchmarking.

One class at a time, real batches picked with numpy permutations, `torch.autograd.grad` per class,
`loss.backward()` through the synthetic side, a `DataLoader` over a `TensorDataset` for the inner
loop and `.item()` after every step. It uses raydd's nets, distances and DSA so that the two sides
differ only in how the loop is organised, not in what it computes.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from raydd.core.archs import build_net, has_batchnorm
from raydd.core.augment import DSA
from raydd.core.distill.matching import DISTANCES


class ReferenceDistiller:
    def __init__(self, cfg, data, images_init: torch.Tensor, seed: int, device: str = "cpu") -> None:
        self.device = torch.device(device)
        self.cfg, self.info = cfg, data.info
        self.real = data.train.images.to(self.device)
        labels = data.train.labels.cpu().numpy()
        self.indices_class = [np.flatnonzero(labels == c) for c in range(self.info.num_classes)]
        self.images = images_init.clone().requires_grad_(True)
        self.labels = torch.arange(self.info.num_classes, device=self.device).repeat_interleave(cfg.ipc)
        self.optimizer = torch.optim.SGD([self.images], lr=cfg.lr_img, momentum=cfg.momentum_img)
        self.dsa = DSA(cfg.settings.dsa_strategy)
        self.distance = DISTANCES.get(cfg.settings.distance)
        self.rng = np.random.RandomState(seed)
        torch.manual_seed(seed)

    def get_images(self, c: int, n: int) -> torch.Tensor:
        return self.real[torch.from_numpy(self.rng.permutation(self.indices_class[c])[:n]).to(self.device)]

    def siamese(self, real, syn):
        seed = int(self.rng.randint(100000))
        return self.dsa(real, seed), self.dsa(syn, seed)

    def step(self) -> float:
        net = build_net(self.cfg.pool.main, self.info.channels, self.info.num_classes,
                        self.info.image_size).to(self.device)
        return self.dm_step(net) if self.cfg.method == "dm" else self.dc_step(net)

    def dc_step(self, net) -> float:
        cfg, k, ipc = self.cfg, self.info.num_classes, self.cfg.ipc
        net.train()
        params = list(net.parameters())
        optimizer_net = torch.optim.SGD(net.parameters(), lr=cfg.settings.lr_net)
        loss_avg = 0.0
        for ol in range(cfg.settings.outer_loop):
            if has_batchnorm(net):
                net.train()
                net(torch.cat([self.get_images(c, cfg.settings.bn_batch_per_class) for c in range(k)]))
                for m in net.modules():
                    if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                        m.eval()
            loss = torch.tensor(0.0, device=self.device)
            for c in range(k):
                img_real = self.get_images(c, cfg.settings.batch_real)
                lab_real = torch.ones(len(img_real), dtype=torch.long, device=self.device) * c
                img_syn = self.images[c * ipc:(c + 1) * ipc]
                lab_syn = torch.ones(ipc, dtype=torch.long, device=self.device) * c
                if cfg.method == "dsa":
                    img_real, img_syn = self.siamese(img_real, img_syn)
                gw_real = torch.autograd.grad(F.cross_entropy(net(img_real), lab_real), params)
                gw_real = [g.detach().clone() for g in gw_real]
                gw_syn = torch.autograd.grad(F.cross_entropy(net(img_syn), lab_syn), params, create_graph=True)
                loss = loss + self.distance([g[None] for g in gw_syn], [g[None] for g in gw_real]).sum()
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
            loss_avg += loss.item()
            if ol == cfg.settings.outer_loop - 1:
                break
            loader = DataLoader(TensorDataset(self.images.detach().clone(), self.labels.clone()),
                                batch_size=cfg.settings.batch_train, shuffle=True, num_workers=0)
            for _ in range(cfg.settings.inner_loop):
                for x, y in loader:
                    if cfg.method == "dsa":
                        x = self.dsa.apply(x, self.dsa.sample(len(x), torch.default_generator))
                    out = net(x)
                    loss_net = F.cross_entropy(out, y)
                    optimizer_net.zero_grad()
                    loss_net.backward()
                    optimizer_net.step()
                    _ = loss_net.item(), (out.argmax(1) == y).sum().item()  # the DC epoch's bookkeeping
        return loss_avg / (k * cfg.settings.outer_loop)

    def dm_step(self, net) -> float:
        cfg, k, ipc = self.cfg, self.info.num_classes, self.cfg.ipc
        net.train()
        for p in net.parameters():
            p.requires_grad = False
        loss = torch.tensor(0.0, device=self.device)
        for c in range(k):
            img_real, img_syn = self.siamese(self.get_images(c, cfg.settings.batch_real), self.images[c * ipc:(c + 1) * ipc])
            out_real = net.embed(img_real).detach()
            out_syn = net.embed(img_syn)
            loss = loss + ((out_real.mean(0) - out_syn.mean(0)) ** 2).sum()
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        return loss.item() / k
